/* Helpers shared by the storage layer's files (not part of the public API). */
#ifndef BALLOT_STORAGE_INTERNAL_H
#define BALLOT_STORAGE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/io.h"

/* Builds "<dir>/<name>" into out (STORAGE_PATH_BYTES_MAX); false when it does not fit. */
bool storage_path(char *out, const char *dir, const char *name);

/* Writes "<prefix><number, 20 digits><suffix>" into out (STORAGE_NAME_BYTES_MAX). */
void storage_name_format(char *out, const char *prefix, uint64_t number, const char *suffix);
/* Parses exactly "<prefix><20 digits><suffix>"; false for anything else. */
bool storage_name_parse(const char *name, const char *prefix, const char *suffix, uint64_t *number);

/* printf into msg (may be NULL or 0 bytes), always NUL-terminated. */
void storage_message(char *msg, size_t msg_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes all of size bytes at offset, splitting calls at STORAGE_IO_CHUNK_BYTES. */
int storage_write_all(const storage_io_t *io, int fd, const void *bytes, size_t size,
                      uint64_t offset);
/* Reads exactly size bytes at offset; EIO if the file ends first. */
int storage_read_all(const storage_io_t *io, int fd, void *bytes, size_t size, uint64_t offset);
/* Reads a whole file of at most max_bytes into a new heap buffer; EFBIG when larger. */
int storage_read_file(const storage_io_t *io, int fd, uint64_t max_bytes, uint8_t **bytes,
                      uint64_t *size);

/* Largest single pwrite/pread the storage code issues. */
#define STORAGE_IO_CHUNK_BYTES ((size_t)1u << 30)

#endif
