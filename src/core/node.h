/* One Ballot node as a pure state machine: (state, input, now) -> (state, outputs).
 *
 * Inputs are a received message, a client command, a read, a timer tick, and the driver's
 * report that persist records are durable. Outputs accumulate in node_outputs() until the
 * driver clears them:
 *
 *   records   persist these, in order, then call node_persisted(last seq)
 *   messages  send these; each is already safe to send (see below)
 *   applies   chosen slots, strictly in slot order, to apply to the state machine
 *   replies   client commands this node could not take (not leader, busy, too large)
 *   reads     read barriers that are satisfied: once applies up to `index` are applied,
 *             the driver may answer the read from its state machine
 *   events    the protocol trace
 *
 * Persist-then-reply: a Promise or Accepted depends on records that must be durable first.
 * The core holds such messages back and releases them only when node_persisted() reports
 * their records durable, so no driver can send one early (docs/design.md "Every state change
 * that an answer depends on is on disk before the answer leaves the node").
 *
 * No sockets, files, clocks, threads or unseeded randomness: `now_ms` is handed in on
 * every call and randomness comes from config.seed. */
#ifndef BALLOT_CORE_NODE_H
#define BALLOT_CORE_NODE_H

#include "core/ballot.h"
#include "core/error.h"
#include "core/event.h"
#include "core/msg.h"
#include "core/value.h"

/* Bounds (every one checked). */
#define WINDOW_SLOTS_MAX     1024u    /* slots in flight beyond the chosen prefix */
#define PENDING_COMMANDS_MAX 65536u   /* client commands waiting for a slot at the leader */
#define PENDING_READS_MAX    65536u   /* reads waiting for a barrier */
#define OUTPUT_MESSAGES_MAX  1000000u /* a driver that never drains outputs is a bug */

/* Membership change (docs/design.md "Membership change"): a CONFIG value chosen in slot j
 * governs every slot >= j + CONFIG_ALPHA. A leader never proposes a slot more than
 * CONFIG_ALPHA beyond its chosen prefix (window_slots <= WINDOW_SLOTS_MAX), so it always
 * knows the configuration of every slot it proposes. Part of the protocol's definition:
 * every node of a cluster must use the same value. */
#define CONFIG_ALPHA ((uint64_t)WINDOW_SLOTS_MAX)

/* The configurations that govern slots, as a replica's state machine knows them after
 * applying the chosen prefix: `current` governs slots from current_from on, until `next`
 * (chosen, not yet in effect) takes over at next_from. Drivers keep one next to their
 * state machine, store it in snapshots, and hand it back on restore. */
typedef struct config_state {
    membership_t current;
    uint64_t current_from;
    bool has_next;
    membership_t next;
    uint64_t next_from;
    uint64_t applied_slot; /* the last slot config_state_apply saw */
} config_state_t;

void config_state_init(config_state_t *cs, const membership_t *founding);
/* Applies the chosen value of slot (slots in increasing order, each once). A CONFIG value
 * becomes `next` (governing slot + CONFIG_ALPHA on) when membership_change_allowed permits
 * it after the latest membership and no other change is still waiting to take effect;
 * otherwise it changes nothing, on every replica alike. Returns true when it took effect. */
bool config_state_apply(config_state_t *cs, uint64_t slot, const value_t *value);
/* The membership governing slot (slot must be at most applied_slot + CONFIG_ALPHA). */
const membership_t *config_state_for_slot(const config_state_t *cs, uint64_t slot);
/* `next` when a change waits to take effect, else `current`. */
const membership_t *config_state_latest(const config_state_t *cs);
/* Bytes for snapshots: at most CONFIG_STATE_BYTES_MAX; 0 when cap is too small. */
#define CONFIG_STATE_BYTES_MAX (32u + 2u * MEMBERSHIP_BYTES_MAX)
size_t config_state_encode(const config_state_t *cs, uint8_t *out, size_t cap);
/* False (out untouched) when the bytes are malformed. */
bool config_state_decode(config_state_t *out, const uint8_t *bytes, size_t size);

typedef struct node_config {
    uint32_t id;         /* 1..NODES_MAX */
    uint32_t node_count; /* founding cluster: voters 1..node_count (1, 3, 5 or 7); 0 for a
                          * node that joins an existing cluster (it learns the
                          * membership from the log or a snapshot and never campaigns
                          * before it is a voter) */
    uint64_t seed;       /* seeds election timeouts and backoff */
    uint32_t heartbeat_ms;
    uint32_t election_timeout_min_ms;
    uint32_t election_timeout_max_ms;
    uint32_t lease_ms;
    uint32_t clock_drift_ms; /* bound on how far two clocks drift apart over a lease */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t retransmit_ms;        /* resend unanswered Prepare/Accept after this */
    uint32_t window_slots;         /* <= WINDOW_SLOTS_MAX */
    uint32_t batch_commands;       /* <= BATCH_COMMANDS_MAX */
    uint32_t batch_bytes;          /* <= BATCH_BYTES_MAX */
    uint32_t pending_commands_max; /* <= PENDING_COMMANDS_MAX */
    bool forward_to_leader;        /* followers forward commands (else reply NOT_LEADER) */
    /* When not 0, a forwarded command's client_id >> client_origin_shift must be the node
     * that forwards it (ballotd puts the node id in the top bits of its client ids). */
    uint32_t client_origin_shift;
    bool trace; /* emit events */
    /* Nodes the driver can reach besides the members it knows (its peer table), as a bit
     * mask (bit id). A node that lost its disk may know only the founding membership; it
     * asks these too, learns the current configuration from their replies, and never
     * finishes a rejoin without a reply from another node (docs/design.md "Membership
     * change", Rejoin). 0: only the members it knows. */
    uint32_t peer_mask;
    /* Added to now_ms to stamp the batches a leader makes (value.h): the wall clock's
     * offset from the driver's clock, so that stamps are Unix time in ms. 0: batches are
     * not stamped (the simulator, whose clients set no deadlines, keeps its seeds'
     * stories). */
    uint64_t stamp_offset_ms;
} node_config_t;

/* Sensible defaults for `id` of `node_count` nodes. */
void node_config_default(node_config_t *cfg, uint32_t id, uint32_t node_count);
/* BALLOT_OK or BALLOT_EINVAL with a reason in msg. */
int node_config_check(const node_config_t *cfg, char *msg, size_t msg_bytes);

typedef enum persist_kind {
    PERSIST_PROMISE = 1, /* ballot: the acceptor's promise (never decreases) */
    PERSIST_ACCEPT = 2,  /* slot, ballot, value: the acceptor accepted */
    PERSIST_LEARN = 3,   /* slot, value: a chosen value learned from another node */
    PERSIST_CHOSEN = 4,  /* slot: every slot <= slot is chosen, its stored value final */
} persist_kind_t;
#define PERSIST_KIND_MAX PERSIST_CHOSEN

typedef struct persist_record {
    persist_kind_t kind;
    uint64_t seq; /* increasing per node start; node_persisted() takes it */
    ballot_t ballot;
    uint64_t slot;
    value_t value; /* owned */
} persist_record_t;

typedef struct apply {
    uint64_t slot;
    value_t value; /* owned; a no-op or a batch */
} apply_t;

typedef enum client_status {
    CLIENT_NOT_LEADER = 1, /* leader: the node thought to lead, or NODE_NONE */
    CLIENT_BUSY = 2,
    CLIENT_TOO_LARGE = 3,
} client_status_t;

typedef struct client_reply {
    uint64_t client_id;
    uint64_t sequence;
    client_status_t status;
    uint32_t leader;
} client_reply_t;

typedef struct read_result {
    uint64_t read_id;
    bool ok;        /* false: no leader could vouch for it (see leader); retry elsewhere */
    uint64_t index; /* the read reflects every slot <= index */
    uint32_t leader;
} read_result_t;

typedef struct node_outputs {
    persist_record_t *records;
    size_t record_count;
    msg_t *messages;
    size_t message_count;
    apply_t *applies;
    size_t apply_count;
    client_reply_t *replies;
    size_t reply_count;
    read_result_t *reads;
    size_t read_count;
    event_t *events;
    size_t event_count;
    /* Learn told us the leader compacted what we lack: fetch its snapshot, install it,
     * then call node_snapshot_installed(). 0 when not wanted. */
    uint64_t snapshot_wanted_slot;
    uint32_t snapshot_wanted_from;
    /* A record could not be queued (out of memory): the driver must stop the node. */
    bool failed;
} node_outputs_t;

typedef enum node_role {
    ROLE_FOLLOWER = 1,
    ROLE_CANDIDATE = 2, /* running phase 1 */
    ROLE_LEADER = 3,
} node_role_t;

typedef struct node_status {
    uint32_t id;
    node_role_t role;
    ballot_t promised;      /* acceptor's promise */
    ballot_t leader_ballot; /* the ballot of the leader it follows or is */
    uint32_t leader;        /* NODE_NONE when unknown */
    uint64_t chosen_upto;   /* contiguous chosen prefix (commit index) */
    uint64_t applied_upto;  /* last slot handed out in applies */
    uint64_t highest_accepted_slot;
    uint64_t log_first_slot; /* slots below were compacted into a snapshot */
    bool lease_held;         /* leader: may serve reads alone right now */
    uint64_t lease_until_ms;
    uint32_t pending_commands;
    uint32_t in_flight_slots;
    bool rejoining; /* lost its disk; not answering as an acceptor yet */
    bool voter;     /* a voter in the configuration of its next slot */
    uint64_t config_epoch;
    /* Leader: the chosen prefix each member last reported (0 unknown), by id. */
    uint64_t member_chosen_upto[NODES_MAX + 1];
} node_status_t;

typedef struct node node_t;

/* Creates a node; it does nothing until node_start(). */
int node_create(node_t **out, const node_config_t *cfg);
void node_destroy(node_t *node);

/* Replays one durable record, in the order they were written, before node_start(). */
int node_recover(node_t *node, const persist_record_t *record);
/* Marks that slots <= slot live in a snapshot the driver restored before recovery; cs is
 * the configuration state stored with it (NULL: the founding membership). */
void node_recover_snapshot(node_t *node, uint64_t slot, const config_state_t *cs);
/* Starts timers. A node that may have granted leases before a restart refuses to promise
 * for lease_ms (Chubby §2.9). With rejoin set, the node lost its acceptor state: it answers
 * no Prepare or Accept until it has learned, from a majority, a promise above anything it
 * could have promised before (Paxos Made Live §5.1). */
void node_start(node_t *node, uint64_t now_ms, bool rejoin);

/* A message from the network. BALLOT_EINVAL (nothing changed) when it fails validation
 * or names what this node cannot hold; BALLOT_ECONFLICT (nothing changed) when it
 * contradicts a value this node knows chosen: the sender is broken or forged, and the
 * driver should say so loudly and drop the link. node_refusal() says why
 * (docs/security.md "Bounds on input and memory"). */
int node_receive(node_t *node, const msg_t *m, uint64_t now_ms);
/* Why the last refused message was refused ("" when none was). */
const char *node_refusal(const node_t *node);
/* Messages refused so far (for INFO and tests). */
uint64_t node_refused_count(const node_t *node);
/* A client command at this node. The result arrives as an apply of a batch holding
 * (client_id, sequence), or as a client reply. BALLOT_EINVAL/ETOOLARGE for bad input. */
int node_submit(node_t *node, const command_t *command, uint64_t now_ms);
/* A linearizable read barrier; the answer comes in outputs.reads. */
int node_read(node_t *node, uint64_t read_id, uint64_t now_ms);
void node_tick(node_t *node, uint64_t now_ms);
/* Every record with seq <= persisted_seq is durable. */
void node_persisted(node_t *node, uint64_t persisted_seq, uint64_t now_ms);
/* Leader only: hand leadership to `to` (BALLOT_ENOTLEADER otherwise). */
int node_transfer_leadership(node_t *node, uint32_t to, uint64_t now_ms);
/* The driver snapshotted the state machine at slot (<= applied): drop log entries <= slot. */
void node_compact(node_t *node, uint64_t slot);
/* The driver installed a snapshot covering slots <= slot, with its configuration state. */
void node_snapshot_installed(node_t *node, uint64_t slot, const config_state_t *cs,
                             uint64_t now_ms);

/* Leader only: proposes `next` as the new membership. It is chosen like any slot and
 * arrives as an apply of a CONFIG value; it governs slots from its slot + CONFIG_ALPHA on
 * (the leader fills the gap with no-ops). BALLOT_ENOTLEADER when not leading;
 * BALLOT_EBUSY while an earlier change is in flight or not yet in effect; BALLOT_EINVAL
 * when not an allowed change (why says which rule); BALLOT_EAGAIN when a learner being
 * promoted is more than CONFIG_CATCHUP_SLOTS behind the leader's chosen prefix. */
#define CONFIG_CATCHUP_SLOTS 1024u
int node_propose_config(node_t *node, const membership_t *next, uint64_t now_ms, char *why,
                        size_t why_bytes);
/* The configuration state of this node's chosen prefix. */
const config_state_t *node_config_state(const node_t *node);

node_outputs_t *node_outputs(node_t *node);
/* Frees everything the outputs own and empties them. */
void node_outputs_clear(node_t *node);

void node_get_status(const node_t *node, uint64_t now_ms, node_status_t *out);
/* True when the node would answer a read alone at now_ms (lease held and a no-op of its
 * own ballot chosen). The simulator's lease checker asks this on every step. */
bool node_serves_lease_reads(const node_t *node, uint64_t now_ms);
/* Earliest time at which node_tick has work to do. */
uint64_t node_next_deadline(const node_t *node);
/* The chosen value of a slot still in the log (for catch-up and the simulator's checks);
 * NULL when unknown or compacted. */
const value_t *node_chosen_value(const node_t *node, uint64_t slot);
/* The acceptor's state for a slot (for the simulator's agreement checker). */
bool node_accepted(const node_t *node, uint64_t slot, ballot_t *ballot, const value_t **value);

const char *node_role_name(node_role_t role);

#endif
