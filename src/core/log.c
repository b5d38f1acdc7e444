/* The log: one entry per slot from the first live slot (after the snapshot) to the highest
 * slot touched, in a power-of-two ring indexed by slot, so a slot is found in O(1) and
 * nothing scans the whole log per message. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static log_entry_t *slot_entry(const log_t *log, uint64_t slot)
{
    return &log->entries[slot & (log->capacity - 1)];
}

bool log_init(log_t *log)
{
    memset(log, 0, sizeof(*log));
    log->entries = calloc(LOG_CAPACITY_MIN, sizeof(log_entry_t));
    if (log->entries == NULL) {
        return false;
    }
    log->capacity = LOG_CAPACITY_MIN;
    log->first_slot = 1;
    log->end_slot = 1;
    return true;
}

static void entry_free(log_entry_t *e)
{
    value_free(&e->value);
    value_free(&e->learned);
    value_free(&e->proposal);
    memset(e, 0, sizeof(*e));
}

void log_free(log_t *log)
{
    if (log->entries == NULL) {
        return;
    }
    for (uint64_t slot = log->first_slot; slot < log->end_slot; slot++) {
        entry_free(slot_entry(log, slot));
    }
    free(log->entries);
    memset(log, 0, sizeof(*log));
}

bool log_can_hold(const log_t *log, uint64_t slot)
{
    return slot >= log->first_slot && slot - log->first_slot < LOG_SLOTS_MAX;
}

/* Moves the live range into a ring of new_capacity entries. */
static bool log_grow(log_t *log, uint64_t new_capacity)
{
    assert((new_capacity & (new_capacity - 1)) == 0);
    assert(new_capacity > log->capacity);
    log_entry_t *entries = calloc((size_t)new_capacity, sizeof(log_entry_t));
    if (entries == NULL) {
        return false;
    }
    for (uint64_t slot = log->first_slot; slot < log->end_slot; slot++) {
        entries[slot & (new_capacity - 1)] = *slot_entry(log, slot);
    }
    free(log->entries);
    log->entries = entries;
    log->capacity = new_capacity;
    return true;
}

bool log_reserve(log_t *log, uint64_t slot)
{
    if (!log_can_hold(log, slot)) {
        return false;
    }
    uint64_t needed = slot - log->first_slot + 1;
    if (needed > log->capacity) {
        uint64_t capacity = log->capacity;
        while (capacity < needed) {
            capacity *= 2;
        }
        assert(capacity <= 2 * LOG_SLOTS_MAX);
        if (!log_grow(log, capacity)) {
            return false;
        }
    }
    if (slot >= log->end_slot) {
        log->end_slot = slot + 1;
    }
    assert(log->end_slot - log->first_slot <= log->capacity);
    return true;
}

log_entry_t *log_get(const log_t *log, uint64_t slot)
{
    if (slot < log->first_slot || slot >= log->end_slot) {
        return NULL;
    }
    return slot_entry(log, slot);
}

void log_truncate_prefix(log_t *log, uint64_t upto)
{
    if (upto < log->first_slot) {
        return;
    }
    uint64_t stop = upto + 1 < log->end_slot ? upto + 1 : log->end_slot;
    for (uint64_t slot = log->first_slot; slot < stop; slot++) {
        entry_free(slot_entry(log, slot));
    }
    log->first_slot = upto + 1;
    if (log->end_slot < log->first_slot) {
        log->end_slot = log->first_slot;
    }
}

const value_t *log_chosen_value(const log_entry_t *e)
{
    assert(e->chosen);
    if (e->has_learned) {
        return &e->learned;
    }
    assert(!ballot_is_none(e->accepted_ballot));
    return &e->value;
}

void log_entry_clear_proposal(log_entry_t *e)
{
    value_free(&e->proposal);
    e->reported = false;
    e->proposing = false;
    e->report_ballot = BALLOT_NONE;
    e->ack_mask = 0;
    e->sent_ms = 0;
}
