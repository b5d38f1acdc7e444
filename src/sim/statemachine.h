/* Each simulated node's state machine: the real key-value state machine (src/kv) behind a
 * small adapter. Clients speak in sim_command_t (one key of SM_KEYS_MAX, 64-bit values
 * written as 16 hex digits, 0 meaning "absent"); the adapter encodes them as kv commands
 * and reads kv results back. It also remembers which (client, sequence) pairs this node's
 * state machine applied with effect, for the durability check, independently of the kv's
 * own client table, and keeps the configuration state of what it applied (config_state_t,
 * updated by every applied slot, CONFIG values included), which travels in its
 * snapshots. */
#ifndef BALLOT_SIM_STATEMACHINE_H
#define BALLOT_SIM_STATEMACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "core/value.h"
#include "kv/kv.h"

#define SM_KEYS_MAX          16u
#define SM_CLIENTS_MAX       32u
#define SM_COMMAND_BYTES_MAX 96u
#define SM_SEQUENCES_MAX     (1u << 24)

/* op is KV_GET, KV_SET, KV_DEL or KV_CAS (expected = arg1, new = arg2). */
typedef struct sim_command {
    kv_op_t op;
    uint8_t key;
    uint64_t arg1;
    uint64_t arg2;
} sim_command_t;

typedef struct sm_seqs {
    uint64_t *bits;
    size_t words;
} sm_seqs_t;

typedef struct sm {
    kv_t *kv;
    uint64_t applied_slot;
    config_state_t cs;                     /* the configurations of slots 1..applied_slot */
    sm_seqs_t applied[SM_CLIENTS_MAX + 1]; /* by client id: sequences applied with effect */
} sm_t;

typedef struct sm_result {
    bool duplicate; /* a retry of an applied sequence: the remembered result */
    bool stale;     /* older than the client's last applied sequence: no effect */
    bool ok;        /* CAS: swapped */
} sm_result_t;

/* BALLOT_OK, or an error with a reason in err. founding: the cluster's first membership. */
int sm_init(sm_t *sm, uint64_t hash_seed, const membership_t *founding, char *err,
            size_t err_bytes);
void sm_destroy(sm_t *sm);
/* Encodes a write (SET, DEL, CAS) as kv command bytes. */
int sm_encode(const sim_command_t *cmd, uint8_t out[SM_COMMAND_BYTES_MAX], uint32_t *size);
/* Applies one chosen command. BALLOT_OK, BALLOT_EINVAL (the kv answered with an error: a
 * command no client of the simulator sends), or BALLOT_ENOMEM. */
int sm_apply(sm_t *sm, const command_t *cmd, sm_result_t *out);
/* The value of key (0 when absent) as a lease or read-index read sees it. */
int sm_get(const sm_t *sm, uint8_t key, uint64_t *value);
bool sm_has_applied(const sm_t *sm, uint64_t client_id, uint64_t sequence);
/* CRC-32C of the kv's snapshot: equal states give equal digests. */
int sm_digest(const sm_t *sm, uint32_t *digest);
/* Copies the (client, sequence) pairs applied with effect from src to dst (dst's old ones
 * freed): the checker's record travels beside a snapshot of the kv. BALLOT_OK or
 * BALLOT_ENOMEM. */
int sm_seqs_copy(sm_seqs_t dst[SM_CLIENTS_MAX + 1], const sm_seqs_t src[SM_CLIENTS_MAX + 1]);
void sm_seqs_free(sm_seqs_t seqs[SM_CLIENTS_MAX + 1]);

/* A snapshot's bytes: u32 length of the encoded configuration state, that encoding
 * (config_state_encode), then the kv's image. The caller frees *out. */
int sm_snapshot_image(const sm_t *sm, uint8_t **out, uint64_t *size);
/* Restores kv and configuration state from such bytes (BALLOT_ECORRUPT when malformed;
 * nothing is left half restored in cs). */
int sm_snapshot_restore(sm_t *sm, const uint8_t *bytes, uint64_t size, char *err, size_t err_bytes);
/* Decodes only the configuration state of a snapshot's bytes. */
bool sm_snapshot_config(const uint8_t *bytes, uint64_t size, config_state_t *out);

#endif
