/* An in-memory storage backend with a crash model and fault injection, for the storage
 * tests and fuzz targets (the simulator may use it or bring its own).
 *
 * Each file keeps its current bytes and its durable bytes (as of the last successful
 * fdatasync); the directory keeps its current names and its durable names (as of the last
 * fsync_dir). memio_crash() keeps only what is durable, except that each file may keep a
 * prefix of the bytes appended since its last sync (a torn last write), and each 512-byte
 * sector overwritten in place since then may hold its new or its old bytes, as a real disk
 * does. Not thread-safe: one thread at a time. */
#ifndef BALLOT_STORAGE_MEMIO_H
#define BALLOT_STORAGE_MEMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/io.h"

/* Files a memio holds (names, durable or not) and bytes per file. */
#define MEMIO_FILES_MAX      1024u
#define MEMIO_FILE_BYTES_MAX ((uint64_t)1u << 31)
#define MEMIO_HANDLES_MAX    256u

typedef enum memio_op {
    MEMIO_OP_OPEN = 1,
    MEMIO_OP_PWRITE = 2,
    MEMIO_OP_PREAD = 3,
    MEMIO_OP_FDATASYNC = 4,
    MEMIO_OP_FTRUNCATE = 5,
    MEMIO_OP_UNLINK = 6,
    MEMIO_OP_RENAME = 7,
    MEMIO_OP_LIST_DIR = 8,
    MEMIO_OP_FSYNC_DIR = 9,
    MEMIO_OP_MKDIR = 10,
} memio_op_t;

/* Asked before every operation: return 0 to let it run, or an errno to fail it. For a
 * failing PWRITE, *torn_bytes (starts at 0) may be set to write that many leading bytes
 * before failing. A failed FDATASYNC leaves the file's durable bytes unchanged. */
typedef int (*memio_fault_fn)(void *ctx, memio_op_t op, const char *path, uint64_t offset,
                              size_t size, size_t *torn_bytes);

typedef struct memio memio_t;

memio_t *memio_create(void);
void memio_destroy(memio_t *memio);
/* The backend; valid until memio_destroy. */
const storage_io_t *memio_io(memio_t *memio);
void memio_set_fault(memio_t *memio, memio_fault_fn fn, void *ctx);
/* Space limit over all current file bytes: a pwrite that would exceed it writes nothing
 * and fails with ENOSPC. 0 = unlimited. */
void memio_set_capacity(memio_t *memio, uint64_t bytes);

/* Simulated power loss: closes every handle, reverts names to the durable directory and
 * each file to its durable bytes (each sector overwritten since may keep the new bytes)
 * plus a pseudo-random prefix (from seed) of the bytes appended after them; seed 0 keeps
 * no unsynced byte. */
void memio_crash(memio_t *memio, uint64_t seed);

/* Test access to contents (current view). put creates or replaces a file, durable. */
int memio_put(memio_t *memio, const char *path, const void *bytes, size_t size);
/* Copies the file's current bytes to *bytes (malloc; caller frees). ENOENT if missing. */
int memio_get(memio_t *memio, const char *path, uint8_t **bytes, size_t *size);
/* Flips one bit of the current and durable bytes; false when out of range or missing. */
bool memio_flip_bit(memio_t *memio, const char *path, uint64_t bit);
/* Sets the file's current and durable length (cutting or zero-extending). */
bool memio_set_length(memio_t *memio, const char *path, uint64_t size);
/* Open handles right now (a leak check for tests). */
uint32_t memio_open_handles(const memio_t *memio);

#endif
