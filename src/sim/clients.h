/* Simulated clients and the history they record.
 *
 * Each client has at most one operation outstanding (so its history is well-formed) and
 * picks GET, SET, DEL or CAS on a small set of keys. Writes go through node_submit under
 * (client id, sequence); a retry (after a timeout, NOT_LEADER or BUSY) reuses the same
 * sequence on another node, and the state machine's client table makes it take effect
 * once. A write completes when the state machine of the node it was last handed to
 * applies it (or answers its retry from the client table); a GET completes through node_read (lease
 * or read-index) answered from that node's applied state. An operation is invoked when first sent
 * and completed when answered; during the fault phase a client gives up after CLIENT_GIVE_UP_MS,
 * and a write it gave up on is indeterminate (it may or may not have taken effect). */
#ifndef BALLOT_SIM_CLIENTS_H
#define BALLOT_SIM_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "sim/statemachine.h"

#define CLIENT_ATTEMPT_TIMEOUT_MS 400u
#define CLIENT_GIVE_UP_MS         3000u
#define CLIENT_THINK_MS_MAX       30u
#define CLIENT_RETRY_MS_MAX       20u
#define HISTORY_OPS_MAX           (1u << 20)
#define HISTORY_NEVER             UINT64_MAX

typedef struct sim sim_t;

typedef struct history_op {
    uint32_t client;
    uint64_t sequence;     /* writes: the command's sequence */
    sim_command_t command; /* op KV_GET for reads */
    uint64_t invoked;      /* position in the history's total order */
    uint64_t completed;    /* HISTORY_NEVER: indeterminate (or a GET given up) */
    uint64_t invoke_ms;
    uint64_t complete_ms;
    bool ok;        /* CAS: swapped */
    uint64_t value; /* GET: the value read, 0 for absent */
    uint64_t slot;  /* writes: the slot whose apply answered it (0 if unknown) */
} history_op_t;

typedef enum client_state {
    CLIENT_IDLE = 0,
    CLIENT_WRITING = 1,
    CLIENT_READING = 2,
} client_state_t;

typedef struct sim_client {
    uint32_t id;
    client_state_t state;
    uint64_t sequence;
    size_t op;     /* index in history */
    uint32_t node; /* where the current attempt went */
    uint32_t leader_hint;
    uint64_t read_id;
    uint64_t timer_gen;
    uint8_t payload[SM_COMMAND_BYTES_MAX];
    uint32_t payload_size;
} sim_client_t;

/* Every command a client ever submitted, for the validity check. */
typedef struct client_payload {
    uint32_t size;
    uint8_t bytes[SM_COMMAND_BYTES_MAX];
} client_payload_t;

typedef struct client_submitted {
    client_payload_t *payloads; /* by sequence - 1 */
    size_t count;
    size_t capacity;
} client_submitted_t;

typedef struct clients {
    sim_client_t client[SM_CLIENTS_MAX + 1]; /* by id 1..count */
    client_submitted_t submitted[SM_CLIENTS_MAX + 1];
    uint32_t count;
    uint32_t keys;
    bool issuing; /* false once faults stop: finish what is outstanding only */
    uint64_t next_read_id;
    uint64_t next_value;
    uint64_t stamp; /* the history's total order of invocations and completions */
    history_op_t *ops;
    size_t op_count;
    size_t op_capacity;
    uint64_t last_seen[SM_KEYS_MAX]; /* a recent value per key, to aim CASes at */
} clients_t;

void clients_init(sim_t *sim, uint32_t count, uint32_t keys);
void clients_destroy(clients_t *clients);
void clients_on_timer(sim_t *sim, uint32_t client_id, uint64_t gen);
/* Node's state machine applied (client_id, sequence) in slot with this result. */
void clients_on_result(sim_t *sim, uint32_t node, uint64_t slot, uint64_t client_id,
                       uint64_t sequence, const sm_result_t *result);
void clients_on_reply(sim_t *sim, uint32_t node, const client_reply_t *reply);
void clients_on_read(sim_t *sim, uint32_t node, const read_result_t *read);
/* True when (client_id, sequence) is a command some client submitted with these bytes. */
bool clients_submitted(const clients_t *clients, uint64_t client_id, uint64_t sequence,
                       const uint8_t *bytes, uint32_t size);
bool clients_idle(const clients_t *clients);
/* End of run: whatever is still outstanding becomes indeterminate. */
void clients_finish(sim_t *sim);

#endif
