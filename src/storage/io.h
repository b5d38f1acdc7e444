/* The I/O backend of Ballot's storage: every byte the WAL and the snapshots read or write
 * goes through one of these function tables, so the simulator can run the real storage
 * code on a simulated disk (crash loses unsynced data, torn writes, bit flips, failing
 * fsync) exactly as ballotd runs it on a real one (the shape follows canonical/raft's
 * `struct raft_io`).
 *
 * Contract for every backend
 * --------------------------
 * - Every operation returns 0 on success or a positive errno value on failure. The storage
 *   code gives these a meaning: ENOSPC and EDQUOT mean "the disk is full" (recoverable);
 *   ENOENT means "no such file"; every other value is treated as a failed disk (EIO).
 * - Paths are "<dir>/<name>" where dir is the string handed to wal_open/snapshot_* and
 *   name is a plain file name (no '/'); a backend may treat the strings as opaque keys.
 * - File handles are small non-negative ints chosen by the backend. Every file is opened
 *   for reading and writing.
 * - pwrite writes all `size` bytes at `offset` (growing the file as needed; a gap reads as
 *   zeros) and returns 0, or returns an errno; after a failed pwrite any part of the range
 *   may hold the new bytes, the old bytes or garbage (a torn write) until the caller
 *   overwrites or truncates it. A backend may loop over short writes internally; it never
 *   reports a short write as success.
 * - pread reads up to `size` bytes at `offset` into buf and stores the count in *read_bytes;
 *   the count is below size only at end of file.
 * - fdatasync makes the file's data and size durable: after it returns 0, a crash keeps
 *   every byte written before the call. Before it, a crash may keep any prefix of the bytes
 *   written since the previous successful fdatasync (or none of them). After a FAILED
 *   fdatasync nothing written since the last successful one may be trusted, and retrying
 *   does not make it durable (Linux drops the dirty pages on writeback errors): the storage
 *   code stops and never retries.
 * - File creation, rename and unlink are durable only after fsync_dir of the directory
 *   returns 0; a crash before that may undo any of them. rename replaces `to` atomically.
 * - list_dir calls fn once per entry name in dir (not "." or ".."), in any order, until fn
 *   returns nonzero (then list_dir returns that value). A missing dir gives ENOENT.
 * - mkdir creates dir; it returns 0 when dir already exists as a directory.
 * - close releases the handle; it does not sync. A close error is reported but the handle
 *   is gone either way.
 *
 * The backend need not be thread-safe across calls on the same handle; the WAL uses one
 * handle from one thread at a time. Snapshots and the WAL use distinct files, so the server
 * may write a snapshot from another thread while the storage thread writes the WAL: a
 * backend used that way must allow concurrent calls on different files. */
#ifndef BALLOT_STORAGE_IO_H
#define BALLOT_STORAGE_IO_H

#include <stddef.h>
#include <stdint.h>

/* Longest "<dir>/<name>" the storage code composes; longer dirs are refused (EINVAL). */
#define STORAGE_PATH_BYTES_MAX 4096u
/* Longest file name the storage code creates or recognises, with its NUL. */
#define STORAGE_NAME_BYTES_MAX 64u

enum {
    STORAGE_OPEN_CREATE = 1u << 0,   /* create the file when it does not exist */
    STORAGE_OPEN_TRUNCATE = 1u << 1, /* cut an existing file to 0 bytes */
};

/* Returns 0 to continue listing, nonzero to stop (list_dir then returns it). */
typedef int (*storage_list_fn)(void *fn_ctx, const char *name);

typedef struct storage_io {
    void *ctx; /* handed to every call */
    int (*open)(void *ctx, const char *path, unsigned flags, int *fd_out);
    int (*close)(void *ctx, int fd);
    int (*pwrite)(void *ctx, int fd, const void *buf, size_t size, uint64_t offset);
    int (*pread)(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *read_bytes);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, uint64_t size);
    int (*file_size)(void *ctx, int fd, uint64_t *size_out);
    int (*unlink)(void *ctx, const char *path);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*list_dir)(void *ctx, const char *dir, storage_list_fn fn, void *fn_ctx);
    int (*fsync_dir)(void *ctx, const char *dir);
    int (*mkdir)(void *ctx, const char *dir);
} storage_io_t;

/* The POSIX backend (open/pwrite/pread/fdatasync/... on the real file system). Its ctx
 * is unused; the table is static and shared. */
const storage_io_t *storage_io_posix(void);

/* Maps a backend errno to a Ballot error: ENOSPC/EDQUOT -> BALLOT_ENOSPC, ENOMEM ->
 * BALLOT_ENOMEM, anything else -> BALLOT_EIO. */
int storage_errno_to_err(int errno_value);

#endif
