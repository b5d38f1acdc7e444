#include "core/check.h"
#include <stdlib.h>

#include "server/idmap.h"

#define IDMAP_CAPACITY_MIN 64u

static size_t idmap_home(const idmap_t *map, uint64_t key)
{
    /* Fibonacci hashing: ids are sequential, so spread them. */
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (map->capacity - 1);
}

void idmap_init(idmap_t *map)
{
    map->cells = NULL;
    map->capacity = 0;
    map->count = 0;
}

void idmap_free(idmap_t *map)
{
    free(map->cells);
    idmap_init(map);
}

static bool idmap_grow(idmap_t *map)
{
    size_t capacity = map->capacity == 0 ? IDMAP_CAPACITY_MIN : map->capacity * 2;
    idmap_cell_t *cells = calloc(capacity, sizeof(*cells));
    if (cells == NULL) {
        return false;
    }
    idmap_t grown = {.cells = cells, .capacity = capacity, .count = 0};
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->cells[i].key != 0) {
            size_t at = idmap_home(&grown, map->cells[i].key);
            while (grown.cells[at].key != 0) {
                at = (at + 1) & (capacity - 1);
            }
            grown.cells[at] = map->cells[i];
            grown.count++;
        }
    }
    free(map->cells);
    *map = grown;
    return true;
}

bool idmap_put(idmap_t *map, uint64_t key, uint64_t value)
{
    assert(key != 0);
    if ((map->count + 1) * 2 > map->capacity) {
        if (map->count >= IDMAP_ENTRIES_MAX || !idmap_grow(map)) {
            return false;
        }
    }
    size_t at = idmap_home(map, key);
    while (map->cells[at].key != 0 && map->cells[at].key != key) {
        at = (at + 1) & (map->capacity - 1);
    }
    if (map->cells[at].key == 0) {
        map->count++;
    }
    map->cells[at].key = key;
    map->cells[at].value = value;
    return true;
}

static bool idmap_find(const idmap_t *map, uint64_t key, size_t *at_out)
{
    if (map->capacity == 0 || key == 0) {
        return false;
    }
    size_t at = idmap_home(map, key);
    /* Bounded: the table is at most half full, so an empty cell ends every probe. */
    while (map->cells[at].key != 0) {
        if (map->cells[at].key == key) {
            *at_out = at;
            return true;
        }
        at = (at + 1) & (map->capacity - 1);
    }
    return false;
}

bool idmap_get(const idmap_t *map, uint64_t key, uint64_t *value)
{
    size_t at = 0;
    if (!idmap_find(map, key, &at)) {
        return false;
    }
    *value = map->cells[at].value;
    return true;
}

bool idmap_remove(idmap_t *map, uint64_t key)
{
    size_t hole = 0;
    if (!idmap_find(map, key, &hole)) {
        return false;
    }
    size_t mask = map->capacity - 1;
    size_t at = (hole + 1) & mask;
    /* Shift back every later entry of the run whose home lies at or before the hole. */
    while (map->cells[at].key != 0) {
        size_t home = idmap_home(map, map->cells[at].key);
        bool movable = ((at - home) & mask) >= ((at - hole) & mask);
        if (movable) {
            map->cells[hole] = map->cells[at];
            hole = at;
        }
        at = (at + 1) & mask;
    }
    map->cells[hole].key = 0;
    map->cells[hole].value = 0;
    map->count--;
    return true;
}
