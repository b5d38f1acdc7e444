/* Snapshots (format in kv.h). Keys go out sorted and clients in apply order, so identical
 * states give identical bytes however the table happens to be laid out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fail.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "core/check.h"
#include "kv/kv_internal.h"

#define SNAPSHOT_HEADER_BYTES  28u
#define SNAPSHOT_STATE_BYTES   (16u + 8u * KV_WATCH_BUCKETS) /* format 2 */
#define SNAPSHOT_ENTRY_HEADER  8u                            /* u32 klen, u32 vlen */
#define SNAPSHOT_ENTRY_EXTRA   16u /* format 2: u64 deadline, u64 version */
#define SNAPSHOT_CLIENT_BYTES  26u /* u64 id, u64 sequence, u8 type, u8 error, i64 integer */
#define SNAPSHOT_CLIENT_EXTRA  17u /* format 2: u8 watching, u64 watch_mod, u64 watch_time */
#define SNAPSHOT_FORMAT_1      1u
#define SNAPSHOT_TRAILER_BYTES 4u
#define SNAPSHOT_BUFFER_BYTES  ((size_t)64 * 1024)

/* Output buffered into SNAPSHOT_BUFFER_BYTES pieces, checksummed as it goes. */
typedef struct snap_out {
    kv_write_fn write_fn;
    void *ctx;
    uint8_t *buf;
    size_t used;
    uint32_t crc;
    int rc;
} snap_out_t;

static void out_flush(snap_out_t *o)
{
    if (o->rc == BALLOT_OK && o->used > 0) {
        o->crc = crc32c_extend(o->crc, o->buf, o->used);
        o->rc = o->write_fn(o->ctx, o->buf, o->used);
    }
    o->used = 0;
}

static void out_put(snap_out_t *o, const void *bytes, size_t size)
{
    if (o->rc != BALLOT_OK || size == 0) {
        return;
    }
    if (size > SNAPSHOT_BUFFER_BYTES - o->used) {
        out_flush(o);
    }
    if (size >= SNAPSHOT_BUFFER_BYTES) {
        /* A large value goes out as it is, without a copy. */
        o->crc = crc32c_extend(o->crc, bytes, size);
        o->rc = o->rc == BALLOT_OK ? o->write_fn(o->ctx, bytes, size) : o->rc;
        return;
    }
    memcpy(o->buf + o->used, bytes, size);
    o->used += size;
}

static int entry_order(const void *a, const void *b)
{
    const kv_entry_t *x = *(const kv_entry_t *const *)a;
    const kv_entry_t *y = *(const kv_entry_t *const *)b;
    uint32_t common = x->key_size < y->key_size ? x->key_size : y->key_size;
    int c = common > 0 ? memcmp(kv_entry_key(x), kv_entry_key(y), common) : 0;
    if (c != 0) {
        return c;
    }
    return x->key_size < y->key_size ? -1 : x->key_size > y->key_size ? 1 : 0;
}

/* The entries in ascending key order (a new array the caller frees), or NULL. */
static kv_entry_t **sorted_entries(const kv_table_t *t)
{
    kv_entry_t **sorted = malloc((size_t)(t->count > 0 ? t->count : 1) * sizeof(*sorted));
    if (sorted == NULL) {
        return NULL;
    }
    uint64_t n = 0;
    for (uint64_t i = 0; i < t->capacity; i++) {
        if (t->slots[i] != NULL) {
            sorted[n++] = t->slots[i];
        }
    }
    assert(n == t->count);
    qsort(sorted, (size_t)n, sizeof(*sorted), entry_order);
    return sorted;
}

static void put_header(snap_out_t *o, const kv_t *kv)
{
    uint8_t h[SNAPSHOT_HEADER_BYTES];
    put_u32(h, KV_SNAPSHOT_MAGIC);
    put_u32(h + 4, KV_SNAPSHOT_FORMAT);
    put_u32(h + 8, kv->config.key_bytes_max);
    put_u32(h + 12, kv->config.value_bytes_max);
    put_u64(h + 16, kv->table.count);
    put_u32(h + 24, kv->clients.count);
    out_put(o, h, sizeof(h));
}

static void put_clients(snap_out_t *o, const kv_clients_t *c)
{
    uint32_t n = 0;
    /* The list holds exactly count records. */
    for (uint32_t r = c->oldest; r != 0 && n < c->count; r = c->records[r - 1u].newer, n++) {
        const kv_client_t *x = &c->records[r - 1u];
        uint8_t b[SNAPSHOT_CLIENT_BYTES];
        put_u64(b, x->client_id);
        put_u64(b + 8, x->sequence);
        b[16] = x->type;
        b[17] = x->error;
        put_u64(b + 18, (uint64_t)x->integer);
        out_put(o, b, sizeof(b));
        uint8_t w[SNAPSHOT_CLIENT_EXTRA];
        w[0] = x->watching;
        put_u64(w + 1, x->watch_mod);
        put_u64(w + 9, x->watch_time);
        out_put(o, w, sizeof(w));
    }
    assert(n == c->count);
}

int kv_snapshot_write(const kv_t *kv, kv_write_fn write_fn, void *ctx)
{
    snap_out_t o = {.write_fn = write_fn, .ctx = ctx, .rc = BALLOT_OK};
    o.buf = malloc(SNAPSHOT_BUFFER_BYTES);
    kv_entry_t **sorted = sorted_entries(&kv->table);
    if (o.buf == NULL || sorted == NULL) {
        free(o.buf);
        free(sorted);
        return BALLOT_ENOMEM;
    }
    put_header(&o, kv);
    uint8_t st[SNAPSHOT_STATE_BYTES];
    put_u64(st, kv->time_ms);
    put_u64(st + 8, kv->mod);
    for (uint32_t i = 0; i < KV_WATCH_BUCKETS; i++) {
        put_u64(st + 16 + 8u * i, kv->deleted_mod[i]);
    }
    out_put(&o, st, sizeof(st));
    for (uint64_t i = 0; i < kv->table.count; i++) {
        const kv_entry_t *e = sorted[i];
        uint8_t h[SNAPSHOT_ENTRY_HEADER + SNAPSHOT_ENTRY_EXTRA];
        put_u32(h, e->key_size);
        put_u32(h + 4, e->value_size);
        put_u64(h + 8, e->expire_ms);
        put_u64(h + 16, e->version);
        out_put(&o, h, sizeof(h));
        out_put(&o, kv_entry_key(e), e->key_size);
        out_put(&o, kv_entry_value(e), e->value_size);
    }
    put_clients(&o, &kv->clients);
    out_flush(&o);
    uint8_t trailer[SNAPSHOT_TRAILER_BYTES];
    put_u32(trailer, o.crc);
    if (o.rc == BALLOT_OK) {
        o.rc = write_fn(ctx, trailer, sizeof(trailer));
    }
    free(o.buf);
    free(sorted);
    return o.rc;
}

uint64_t kv_snapshot_bytes(const kv_t *kv)
{
    return SNAPSHOT_HEADER_BYTES + SNAPSHOT_STATE_BYTES +
           kv->table.count * (SNAPSHOT_ENTRY_HEADER + SNAPSHOT_ENTRY_EXTRA) + kv->table.key_bytes +
           kv->table.value_bytes +
           (uint64_t)kv->clients.count * (SNAPSHOT_CLIENT_BYTES + SNAPSHOT_CLIENT_EXTRA) +
           SNAPSHOT_TRAILER_BYTES;
}

/* A reader over the snapshot's bytes (trailer excluded). */
typedef struct snap_in {
    const uint8_t *p;
    size_t left;
} snap_in_t;

static const uint8_t *in_take(snap_in_t *in, size_t size)
{
    if (in->left < size) {
        return NULL;
    }
    const uint8_t *p = in->p;
    in->p += size;
    in->left -= size;
    return p;
}

/* The keys part. With t NULL it only checks (limits; keys ascending strictly, which rules
 * out duplicates); otherwise it also inserts into t. */
static int restore_keys(const kv_config_t *config, snap_in_t *in, uint64_t count, uint32_t format,
                        kv_t *kv, char *err, size_t err_bytes)
{
    kv_table_t *t = kv != NULL ? &kv->table : NULL;
    const uint8_t *previous = NULL;
    uint32_t previous_size = 0;
    size_t header =
        SNAPSHOT_ENTRY_HEADER + (format == SNAPSHOT_FORMAT_1 ? 0u : SNAPSHOT_ENTRY_EXTRA);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *h = in_take(in, header);
        uint32_t key_size = h != NULL ? get_u32(h) : 0;
        uint32_t value_size = h != NULL ? get_u32(h + 4) : 0;
        uint64_t expire_ms = h != NULL && format != SNAPSHOT_FORMAT_1 ? get_u64(h + 8) : 0;
        uint64_t version = h != NULL && format != SNAPSHOT_FORMAT_1 ? get_u64(h + 16) : 0;
        const uint8_t *key = h != NULL ? in_take(in, key_size) : NULL;
        const uint8_t *value = key != NULL ? in_take(in, value_size) : NULL;
        if (value == NULL) {
            return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                               "kv snapshot: truncated at key %llu", (unsigned long long)i);
        }
        if (expire_ms > (uint64_t)INT64_MAX) {
            return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                               "kv snapshot: key %llu has deadline %llu ms past the bound",
                               (unsigned long long)i, (unsigned long long)expire_ms);
        }
        if (key_size > config->key_bytes_max || value_size > config->value_bytes_max) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                               "kv snapshot: key %llu (%u bytes, value %u bytes) over this "
                               "node's limits",
                               (unsigned long long)i, key_size, value_size);
        }
        if (previous != NULL) {
            uint32_t common = previous_size < key_size ? previous_size : key_size;
            int c = common > 0 ? memcmp(previous, key, common) : 0;
            if (c > 0 || (c == 0 && previous_size >= key_size)) {
                return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                                   "kv snapshot: key %llu out of order or repeated",
                                   (unsigned long long)i);
            }
        }
        previous = key;
        previous_size = key_size;
        kv_entry_t *e = NULL;
        if (t != NULL && kv_table_set(t, key, key_size, value, value_size, &e) != BALLOT_OK) {
            return ballot_fail(BALLOT_ENOMEM, err, err_bytes, "kv snapshot: out of memory");
        }
        if (e != NULL) {
            e->expire_ms = expire_ms;
            e->version = version;
            kv->volatile_count += expire_ms != 0 ? 1u : 0u;
        }
    }
    return BALLOT_OK;
}

/* A remembered result must be one kv_apply could have kept, in its canonical form. */
static bool client_canonical(const kv_client_t *x)
{
    if (x->client_id == 0) {
        return false;
    }
    switch (x->type) {
    case KV_CACHED_REREAD:
    case KV_RESULT_OK:
    case KV_RESULT_NIL:
        return x->error == KV_ERR_NONE && x->integer == 0;
    case KV_RESULT_INTEGER:
        return x->error == KV_ERR_NONE;
    case KV_RESULT_ERROR:
        return x->error > KV_ERR_NONE && x->error <= KV_ERR_MAX && x->integer == 0;
    default:
        return false;
    }
}

static int id_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* The clients part. With c NULL it only checks (canonical records, no id twice, which a
 * sorted copy of the ids shows); otherwise it also appends them to c. */
static int restore_clients(snap_in_t *in, uint32_t count, uint32_t format, kv_clients_t *c,
                           char *err, size_t err_bytes)
{
    uint64_t *ids = c == NULL ? malloc(((size_t)count + 1) * sizeof(*ids)) : NULL;
    if (c == NULL && ids == NULL) {
        return ballot_fail(BALLOT_ENOMEM, err, err_bytes, "kv snapshot: out of memory");
    }
    int rc = BALLOT_OK;
    for (uint32_t i = 0; i < count && rc == BALLOT_OK; i++) {
        const uint8_t *b = in_take(in, SNAPSHOT_CLIENT_BYTES);
        kv_client_t x = {0};
        if (b != NULL) {
            x = (kv_client_t){.client_id = get_u64(b),
                              .sequence = get_u64(b + 8),
                              .type = b[16],
                              .error = b[17],
                              .integer = (int64_t)get_u64(b + 18)};
        }
        const uint8_t *w =
            b != NULL && format != SNAPSHOT_FORMAT_1 ? in_take(in, SNAPSHOT_CLIENT_EXTRA) : NULL;
        if (w != NULL) {
            x.watching = w[0];
            x.watch_mod = get_u64(w + 1);
            x.watch_time = get_u64(w + 9);
        }
        bool extra_ok = format == SNAPSHOT_FORMAT_1 || (w != NULL && w[0] <= 1u);
        if (b == NULL || !extra_ok || !client_canonical(&x)) {
            rc = ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                             "kv snapshot: client %u truncated or malformed", i);
        } else if (c == NULL) {
            ids[i] = x.client_id;
        } else if (kv_clients_restore_one(c, &x) != BALLOT_OK) {
            rc = ballot_fail(BALLOT_ENOMEM, err, err_bytes, "kv snapshot: out of memory");
        }
    }
    if (rc == BALLOT_OK && c == NULL) {
        qsort(ids, count, sizeof(*ids), id_order);
        for (uint32_t i = 1; i < count && rc == BALLOT_OK; i++) {
            if (ids[i] == ids[i - 1]) {
                rc = ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                                 "kv snapshot: client %llu repeated", (unsigned long long)ids[i]);
            }
        }
    }
    free(ids);
    return rc;
}

typedef struct snap_header {
    uint32_t format;
    uint64_t key_count;
    uint32_t client_count;
} snap_header_t;

static int restore_header(const kv_config_t *config, const uint8_t *bytes, size_t size,
                          snap_header_t *h, char *err, size_t err_bytes)
{
    if (size < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES) {
        return ballot_fail(BALLOT_ECORRUPT, err, err_bytes, "kv snapshot: %zu bytes is too short",
                           size);
    }
    uint32_t stored = get_u32(bytes + size - SNAPSHOT_TRAILER_BYTES);
    uint32_t computed = crc32c(bytes, size - SNAPSHOT_TRAILER_BYTES);
    if (stored != computed) {
        return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                           "kv snapshot: checksum 0x%08x, computed 0x%08x", stored, computed);
    }
    h->format = get_u32(bytes + 4);
    if (get_u32(bytes) != KV_SNAPSHOT_MAGIC ||
        (h->format != KV_SNAPSHOT_FORMAT && h->format != SNAPSHOT_FORMAT_1)) {
        return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                           "kv snapshot: bad magic 0x%08x or format %u", get_u32(bytes),
                           get_u32(bytes + 4));
    }
    h->key_count = get_u64(bytes + 16);
    h->client_count = get_u32(bytes + 24);
    size_t body = size - SNAPSHOT_HEADER_BYTES - SNAPSHOT_TRAILER_BYTES;
    if (h->format != SNAPSHOT_FORMAT_1) {
        if (body < SNAPSHOT_STATE_BYTES) {
            return ballot_fail(BALLOT_ECORRUPT, err, err_bytes, "kv snapshot: truncated state");
        }
        body -= SNAPSHOT_STATE_BYTES;
    }
    /* Counts are checked against the bytes present before anything is sized by them. */
    if (h->key_count > body / SNAPSHOT_ENTRY_HEADER ||
        h->client_count > body / SNAPSHOT_CLIENT_BYTES) {
        return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                           "kv snapshot: %llu keys and %u clients cannot fit %zu bytes",
                           (unsigned long long)h->key_count, h->client_count, body);
    }
    if (h->key_count > config->keys_max || h->client_count > config->clients_max) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "kv snapshot: %llu keys, %u clients over this node's limits",
                           (unsigned long long)h->key_count, h->client_count);
    }
    return BALLOT_OK;
}

/* One pass over the body: checks only when kv is NULL, else builds into kv. */
static int restore_body(const kv_config_t *config, const uint8_t *bytes, size_t size,
                        const snap_header_t *h, kv_t *kv, char *err, size_t err_bytes)
{
    snap_in_t in = {.p = bytes + SNAPSHOT_HEADER_BYTES,
                    .left = size - SNAPSHOT_HEADER_BYTES - SNAPSHOT_TRAILER_BYTES};
    int rc = BALLOT_OK;
    if (h->format != SNAPSHOT_FORMAT_1) {
        const uint8_t *st = in_take(&in, SNAPSHOT_STATE_BYTES);
        if (st == NULL) {
            return ballot_fail(BALLOT_ECORRUPT, err, err_bytes, "kv snapshot: truncated state");
        }
        uint64_t mod = get_u64(st + 8);
        if (get_u64(st) > KV_TIME_MS_MAX) {
            return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                               "kv snapshot: time %llu ms past the bound",
                               (unsigned long long)get_u64(st));
        }
        for (uint32_t i = 0; i < KV_WATCH_BUCKETS; i++) {
            if (get_u64(st + 16 + 8u * i) > mod) {
                return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                                   "kv snapshot: watch bucket %u past the counter", i);
            }
        }
        if (kv != NULL) {
            kv->time_ms = get_u64(st);
            kv->mod = mod;
            for (uint32_t i = 0; i < KV_WATCH_BUCKETS; i++) {
                kv->deleted_mod[i] = get_u64(st + 16 + 8u * i);
            }
        }
    }
    if (kv != NULL && kv_table_reserve(&kv->table, h->key_count) != BALLOT_OK) {
        rc = ballot_fail(BALLOT_ENOMEM, err, err_bytes, "kv snapshot: out of memory");
    }
    if (rc == BALLOT_OK) {
        rc = restore_keys(config, &in, h->key_count, h->format, kv, err, err_bytes);
    }
    if (rc == BALLOT_OK) {
        rc = restore_clients(&in, h->client_count, h->format, kv != NULL ? &kv->clients : NULL, err,
                             err_bytes);
    }
    if (rc == BALLOT_OK && in.left != 0) {
        rc = ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                         "kv snapshot: %zu bytes after the last client", in.left);
    }
    return rc;
}

/* Empty state: no keys, no clients, time and counters 0. */
static void kv_reset_state(kv_t *kv)
{
    kv_table_free(&kv->table);
    kv_clients_free(&kv->clients);
    kv_table_init(&kv->table, kv->config.hash_seed);
    kv_clients_init(&kv->clients, kv->config.clients_max, kv->config.hash_seed);
    kv->time_ms = 0;
    kv->mod = 0;
    kv->volatile_count = 0;
    memset(kv->deleted_mod, 0, sizeof(kv->deleted_mod));
}

int kv_snapshot_restore(kv_t *kv, const uint8_t *bytes, size_t size, char *err, size_t err_bytes)
{
    snap_header_t h = {0, 0, 0};
    int rc = restore_header(&kv->config, bytes, size, &h, err, err_bytes);
    if (rc == BALLOT_OK) {
        rc = restore_body(&kv->config, bytes, size, &h, NULL, err, err_bytes);
    }
    if (rc != BALLOT_OK) {
        return rc;
    }
    /* The snapshot is sound: only now does the old state go, so that the old and the new
     * state never take memory together. */
    kv_reset_state(kv);
    rc = restore_body(&kv->config, bytes, size, &h, kv, err, err_bytes);
    if (rc != BALLOT_OK) {
        assert(rc == BALLOT_ENOMEM);
        kv_reset_state(kv);
    }
    return rc;
}

typedef struct image_cursor {
    uint8_t *bytes;
    uint64_t size;
    uint64_t used;
} image_cursor_t;

static int image_copy_out(void *ctx, const void *bytes, size_t size)
{
    image_cursor_t *cursor = ctx;
    if (cursor->used + size > cursor->size) {
        return BALLOT_ETOOLARGE;
    }
    memcpy(cursor->bytes + cursor->used, bytes, size);
    cursor->used += size;
    return BALLOT_OK;
}

int kv_snapshot_image(const kv_t *kv, uint64_t bytes_max, uint8_t **bytes, uint64_t *size)
{
    *bytes = NULL;
    *size = kv_snapshot_bytes(kv);
    if (*size > bytes_max || *size > SIZE_MAX) {
        return BALLOT_ETOOLARGE;
    }
    image_cursor_t cursor = {.bytes = malloc(*size > 0 ? (size_t)*size : 1), .size = *size};
    if (cursor.bytes == NULL) {
        return BALLOT_ENOMEM;
    }
    int rc = kv_snapshot_write(kv, image_copy_out, &cursor);
    if (rc == BALLOT_OK && cursor.used != cursor.size) {
        rc = BALLOT_ENOMEM; /* kv_snapshot_bytes and the writer disagree: never expected */
    }
    if (rc != BALLOT_OK) {
        free(cursor.bytes);
        return rc;
    }
    *bytes = cursor.bytes;
    return BALLOT_OK;
}
