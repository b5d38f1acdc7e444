#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "storage/internal.h"

#define NUMBER_DIGITS 20u

bool storage_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, STORAGE_PATH_BYTES_MAX, "%s/%s", dir, name);
    return n > 0 && (size_t)n < STORAGE_PATH_BYTES_MAX;
}

void storage_name_format(char *out, const char *prefix, uint64_t number, const char *suffix)
{
    int n = snprintf(out, STORAGE_NAME_BYTES_MAX, "%s%020" PRIu64 "%s", prefix, number, suffix);
    (void)n;
}

bool storage_name_parse(const char *name, const char *prefix, const char *suffix, uint64_t *number)
{
    size_t prefix_len = strlen(prefix);
    size_t suffix_len = strlen(suffix);
    if (strlen(name) != prefix_len + NUMBER_DIGITS + suffix_len ||
        strncmp(name, prefix, prefix_len) != 0 ||
        strcmp(name + prefix_len + NUMBER_DIGITS, suffix) != 0) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < NUMBER_DIGITS; i++) {
        char c = name[prefix_len + i];
        if (c < '0' || c > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(c - '0');
        if (value > (UINT64_MAX - digit) / 10u) {
            return false;
        }
        value = value * 10u + digit;
    }
    *number = value;
    return true;
}

void storage_message(char *msg, size_t msg_bytes, const char *format, ...)
{
    if (msg == NULL || msg_bytes == 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    int n = vsnprintf(msg, msg_bytes, format, args);
    va_end(args);
    if (n < 0) {
        msg[0] = '\0';
    }
}

int storage_errno_to_err(int errno_value)
{
    switch (errno_value) {
    case 0:
        return BALLOT_OK;
    case ENOSPC:
    case EDQUOT:
        return BALLOT_ENOSPC;
    case ENOMEM:
        return BALLOT_ENOMEM;
    default:
        return BALLOT_EIO;
    }
}

int storage_write_all(const storage_io_t *io, int fd, const void *bytes, size_t size,
                      uint64_t offset)
{
    const uint8_t *p = bytes;
    while (size > 0) {
        size_t chunk = size < STORAGE_IO_CHUNK_BYTES ? size : STORAGE_IO_CHUNK_BYTES;
        int rc = io->pwrite(io->ctx, fd, p, chunk, offset);
        if (rc != 0) {
            return rc;
        }
        p += chunk;
        size -= chunk;
        offset += chunk;
    }
    return 0;
}

int storage_read_all(const storage_io_t *io, int fd, void *bytes, size_t size, uint64_t offset)
{
    uint8_t *p = bytes;
    while (size > 0) {
        size_t chunk = size < STORAGE_IO_CHUNK_BYTES ? size : STORAGE_IO_CHUNK_BYTES;
        size_t got = 0;
        int rc = io->pread(io->ctx, fd, p, chunk, offset, &got);
        if (rc != 0) {
            return rc;
        }
        if (got == 0 || got > chunk) {
            return EIO; /* the file shrank under us, or a broken backend */
        }
        p += got;
        size -= got;
        offset += got;
    }
    return 0;
}

int storage_read_file(const storage_io_t *io, int fd, uint64_t max_bytes, uint8_t **bytes,
                      uint64_t *size)
{
    uint64_t file_bytes = 0;
    int rc = io->file_size(io->ctx, fd, &file_bytes);
    if (rc != 0) {
        return rc;
    }
    if (file_bytes > max_bytes || file_bytes > SIZE_MAX - 1u) {
        return EFBIG;
    }
    uint8_t *buffer = malloc(file_bytes > 0 ? (size_t)file_bytes : 1u);
    if (buffer == NULL) {
        return ENOMEM;
    }
    rc = storage_read_all(io, fd, buffer, (size_t)file_bytes, 0);
    if (rc != 0) {
        free(buffer);
        return rc;
    }
    *bytes = buffer;
    *size = file_bytes;
    return 0;
}
