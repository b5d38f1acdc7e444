#include "core/value.h"

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "core/check.h"

value_t value_noop(void)
{
    return (value_t){.kind = VALUE_NOOP, .size = 0, .bytes = NULL};
}

bool value_copy(value_t *out, const value_t *in)
{
    assert(out != NULL);
    assert(in != NULL);
    *out = (value_t){.kind = in->kind, .size = in->size, .bytes = NULL};
    if (in->size == 0) {
        return true;
    }
    assert(in->bytes != NULL);
    out->bytes = malloc(in->size);
    if (out->bytes == NULL) {
        out->size = 0;
        return false;
    }
    memcpy(out->bytes, in->bytes, in->size);
    return true;
}

void value_free(value_t *v)
{
    if (v == NULL) {
        return;
    }
    free(v->bytes);
    *v = value_noop();
}

bool value_equal(const value_t *a, const value_t *b)
{
    if (a->kind != b->kind || a->size != b->size) {
        return false;
    }
    return a->size == 0 || memcmp(a->bytes, b->bytes, a->size) == 0;
}

bool batch_validate(const uint8_t *bytes, uint32_t size)
{
    if (bytes == NULL || size < BATCH_HEADER_BYTES || size > BATCH_BYTES_MAX) {
        return false;
    }
    uint32_t header = get_u32(bytes);
    uint32_t count = header & ~BATCH_STAMPED;
    if (count == 0 || count > BATCH_COMMANDS_MAX) {
        return false;
    }
    uint32_t offset = BATCH_HEADER_BYTES;
    if ((header & BATCH_STAMPED) != 0) {
        if (size - offset < BATCH_STAMP_BYTES) {
            return false;
        }
        offset += BATCH_STAMP_BYTES;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (size - offset < BATCH_COMMAND_HEADER_BYTES) {
            return false;
        }
        uint32_t length = get_u32(bytes + offset + 16);
        offset += BATCH_COMMAND_HEADER_BYTES;
        if (length > COMMAND_BYTES_MAX || length > size - offset) {
            return false;
        }
        offset += length;
    }
    /* Trailing bytes would be silently ignored by the iterator: refuse them. */
    return offset == size;
}

uint64_t batch_encoded_bytes(const command_t *commands, uint32_t count)
{
    uint64_t total = BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < count && i < BATCH_COMMANDS_MAX; i++) {
        total += BATCH_COMMAND_HEADER_BYTES + (uint64_t)commands[i].size;
    }
    return total;
}

bool batch_encode(value_t *out, const command_t *commands, uint32_t count)
{
    return batch_encode_stamped(out, commands, count, 0);
}

bool batch_encode_stamped(value_t *out, const command_t *commands, uint32_t count,
                          uint64_t stamp_ms)
{
    assert(out != NULL);
    *out = value_noop();
    if (count == 0 || count > BATCH_COMMANDS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (commands[i].size > COMMAND_BYTES_MAX ||
            (commands[i].size > 0 && commands[i].bytes == NULL)) {
            return false;
        }
    }
    uint64_t total = batch_encoded_bytes(commands, count) + (stamp_ms != 0 ? BATCH_STAMP_BYTES : 0);
    if (total > BATCH_BYTES_MAX) {
        return false;
    }
    uint8_t *bytes = malloc((size_t)total);
    if (bytes == NULL) {
        return false;
    }
    put_u32(bytes, count | (stamp_ms != 0 ? BATCH_STAMPED : 0u));
    size_t offset = BATCH_HEADER_BYTES;
    if (stamp_ms != 0) {
        put_u64(bytes + offset, stamp_ms);
        offset += BATCH_STAMP_BYTES;
    }
    for (uint32_t i = 0; i < count; i++) {
        put_u64(bytes + offset, commands[i].client_id);
        put_u64(bytes + offset + 8, commands[i].sequence);
        put_u32(bytes + offset + 16, commands[i].size);
        offset += BATCH_COMMAND_HEADER_BYTES;
        if (commands[i].size > 0) {
            memcpy(bytes + offset, commands[i].bytes, commands[i].size);
        }
        offset += commands[i].size;
    }
    assert(offset == total);
    *out = (value_t){.kind = VALUE_BATCH, .size = (uint32_t)total, .bytes = bytes};
    assert(batch_validate(out->bytes, out->size));
    return true;
}

void batch_iter_init(batch_iter_t *it, const value_t *batch)
{
    assert(it != NULL);
    assert(batch != NULL);
    *it = (batch_iter_t){.bytes = batch->bytes, .size = batch->size};
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES) {
        return;
    }
    uint32_t header = get_u32(batch->bytes);
    it->remaining = header & ~BATCH_STAMPED;
    it->offset = BATCH_HEADER_BYTES + ((header & BATCH_STAMPED) != 0 ? BATCH_STAMP_BYTES : 0u);
    assert(it->remaining <= BATCH_COMMANDS_MAX);
}

bool batch_iter_next(batch_iter_t *it, command_t *out)
{
    if (it->remaining == 0) {
        return false;
    }
    assert(it->size - it->offset >= BATCH_COMMAND_HEADER_BYTES);
    const uint8_t *p = it->bytes + it->offset;
    out->client_id = get_u64(p);
    out->sequence = get_u64(p + 8);
    out->size = get_u32(p + 16);
    it->offset += BATCH_COMMAND_HEADER_BYTES;
    assert(out->size <= it->size - it->offset);
    out->bytes = it->bytes + it->offset;
    it->offset += out->size;
    it->remaining--;
    return true;
}

uint32_t batch_count(const value_t *batch)
{
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES) {
        return 0;
    }
    return get_u32(batch->bytes) & ~BATCH_STAMPED;
}

uint64_t batch_stamp(const value_t *batch)
{
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES + BATCH_STAMP_BYTES ||
        (get_u32(batch->bytes) & BATCH_STAMPED) == 0) {
        return 0;
    }
    return get_u64(batch->bytes + BATCH_HEADER_BYTES);
}
