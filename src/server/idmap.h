/* A map from nonzero 64-bit ids to 64-bit values (open addressing, linear probing,
 * backward-shift deletion): client ids to connections, read ids to their clients. */
#ifndef BALLOT_SERVER_IDMAP_H
#define BALLOT_SERVER_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entries held at most (the table has twice as many cells). */
#define IDMAP_ENTRIES_MAX ((size_t)1 << 24)

typedef struct idmap_cell {
    uint64_t key; /* 0: empty */
    uint64_t value;
} idmap_cell_t;

typedef struct idmap {
    idmap_cell_t *cells;
    size_t capacity; /* power of two, or 0 */
    size_t count;
} idmap_t;

void idmap_init(idmap_t *map);
void idmap_free(idmap_t *map);
/* Inserts or replaces; false when out of memory or past IDMAP_ENTRIES_MAX. */
bool idmap_put(idmap_t *map, uint64_t key, uint64_t value);
bool idmap_get(const idmap_t *map, uint64_t key, uint64_t *value);
/* True when the key was there. */
bool idmap_remove(idmap_t *map, uint64_t key);

#endif
