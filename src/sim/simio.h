/* The simulator's disk medium: an in-memory implementation of the storage layer's I/O
 * backend (storage/io.h), so each simulated node runs the real WAL code, recovery
 * included, on a disk the simulator can break.
 *
 * Every file keeps its current bytes and its synced bytes (as of its last successful
 * fdatasync); the directory keeps current names and durable names (as of the last
 * fsync_dir). A crash keeps what is durable; of the bytes appended to a file since its
 * last sync it may keep a prefix (a torn write), possibly ending in garbage, and each
 * 512-byte sector overwritten in place since then may keep its new bytes. fdatasync can
 * be made to fail once (the storage code must then stop, never retry). disk.c flips bits
 * in the synced bytes, as a bad sector would. One thread, like the simulator. */
#ifndef BALLOT_SIM_SIMIO_H
#define BALLOT_SIM_SIMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/prng.h"
#include "storage/io.h"

#define SIMIO_FILES_MAX      64u
#define SIMIO_HANDLES_MAX    16u
#define SIMIO_PATH_BYTES     160u
#define SIMIO_FILE_BYTES_MAX ((size_t)512u * 1024u * 1024u)
#define SIMIO_SECTOR_BYTES   512u

typedef struct simio_buf {
    uint8_t *bytes;
    size_t size;
    size_t capacity;
} simio_buf_t;

typedef struct simio_file {
    bool live;    /* the current directory names it `name` */
    bool durable; /* the durable directory names it `durable_name` */
    char name[SIMIO_PATH_BYTES];
    char durable_name[SIMIO_PATH_BYTES];
    simio_buf_t data;   /* current bytes */
    simio_buf_t synced; /* bytes as of the last successful fdatasync */
    size_t dirty_from;  /* lowest offset changed since then */
} simio_file_t;

typedef struct simio {
    storage_io_t io;
    simio_file_t files[SIMIO_FILES_MAX];
    int32_t handles[SIMIO_HANDLES_MAX]; /* file index, -1 when free */
    bool fail_next_fdatasync;
} simio_t;

typedef enum simio_crash_result {
    SIMIO_CRASH_CLEAN = 0,   /* nothing unsynced survived */
    SIMIO_CRASH_TORN = 1,    /* a prefix of some unsynced bytes survived */
    SIMIO_CRASH_GARBAGE = 2, /* ... ending in garbage */
} simio_crash_result_t;

void simio_init(simio_t *s);
void simio_destroy(simio_t *s);
/* Power loss: see above. torn_p: chance that a file keeps a prefix of its unsynced bytes;
 * allow_garbage: that prefix may end in garbage. */
simio_crash_result_t simio_crash(simio_t *s, prng_t *rng, double torn_p, bool allow_garbage);
/* Bytes that are current but not synced, over all files. */
size_t simio_unsynced_bytes(const simio_t *s);

#endif
