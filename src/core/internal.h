/* The inside of a node: shared by the core's .c files only. Drivers use node.h.
 *
 * One file per concern: log.c (the slot ring), outbox.c (outputs, persist gating, delivery
 * to self), acceptor.c, proposer.c, learner.c, lease.c (leases and reads), election.c
 * (timeouts, backoff, step-down, transfer), rejoin.c (a node that lost its disk), client.c
 * (commands, forwarding), node.c (dispatch, config, status). */
#ifndef BALLOT_CORE_INTERNAL_H
#define BALLOT_CORE_INTERNAL_H

#include "core/check.h"
#include "core/node.h"
#include "core/rng.h"

/* Live log slots a node holds between compactions; an Accept or report beyond it is
 * dropped (never counting a vote is always safe). */
#define LOG_SLOTS_MAX    ((uint64_t)1 << 22)
#define LOG_CAPACITY_MIN 1024u
/* Heartbeats whose acks the leader still counts. */
#define HEARTBEAT_HISTORY 64u
/* Heartbeats sent at once for a commit may run at most this far past the newest heartbeat
 * a majority answered; further commits wait for acks or ride the next Accept, so extra
 * heartbeats never push the ones still awaited out of the history. */
#define COMMIT_HEARTBEATS_AHEAD_MAX (HEARTBEAT_HISTORY / 8u)
/* Deliveries to self within one call: far above any real chain of self messages. */
#define SELF_DELIVERIES_MAX 1000000u
/* Slots a follower checks against one commit notice. */
#define LEARN_SCAN_SLOTS_MAX (2u * WINDOW_SLOTS_MAX)
/* Bytes of client commands waiting at the leader. */
#define PENDING_BYTES_MAX ((uint64_t)512 * 1024 * 1024)
/* Value bytes in one Promise, RejoinReply or Learn part (a single larger entry travels
 * alone). */
#define PART_BYTES_MAX (MSG_BYTES_MAX / 2u)
/* Backoff doubles at most this many times. */
#define BACKOFF_DOUBLINGS_MAX 20u
/* A phase-1 round is abandoned after this many retransmit intervals (docs/core.md). */
#define PHASE1_RETRANSMITS 3u
#define FOREVER_MS         UINT64_MAX
/* The reason kept for the last refused message. */
#define NODE_REFUSAL_BYTES 160u

typedef struct log_entry {
    /* Acceptor: what it accepted (valid when accepted_ballot is not NONE). */
    ballot_t accepted_ballot;
    value_t value;
    /* Learner: chosen; the chosen value is `learned` when set, else `value`. */
    bool chosen;
    bool has_learned;
    value_t learned;
    /* Proposer: as candidate, the highest-ballot value reported (reported, report_ballot);
     * as leader, the value proposed in its ballot (proposing). */
    bool reported;
    bool proposing;
    ballot_t report_ballot;
    value_t proposal;
    /* Acceptor: seq of the ACCEPT record of (accepted_ballot, value); 0 when it came from
     * recovery (durable). */
    uint64_t accept_seq;
    uint32_t ack_mask;
    uint64_t sent_ms;
} log_entry_t;

/* Slots [first_slot, end_slot) in a ring indexed by slot & (capacity - 1); every entry
 * outside the range is zero. */
typedef struct log {
    log_entry_t *entries;
    uint64_t capacity;
    uint64_t first_slot;
    uint64_t end_slot;
} log_t;

/* outbox_post's after_seq for a message that depends on no record. */
#define OUTBOX_NOW 0u

typedef struct gated_msg {
    uint64_t seq; /* released once every record up to seq is durable */
    msg_t msg;
} gated_msg_t;

typedef struct msg_fifo {
    gated_msg_t *items;
    size_t head;
    size_t count;
    size_t capacity;
} msg_fifo_t;

typedef struct pending_command {
    uint64_t client_id;
    uint64_t sequence;
    uint32_t size;
    uint32_t origin; /* node the client talks to */
    uint8_t *bytes;
} pending_command_t;

typedef enum read_state {
    READ_WAIT_QUORUM = 1, /* leader: needs a majority ack of a later heartbeat */
    READ_WAIT_LEADER = 2, /* follower: asked the leader for an index */
    READ_WAIT_APPLY = 3,  /* follower: has the index, waits for applies */
} read_state_t;

typedef struct pending_read {
    uint64_t read_id;
    uint32_t origin;
    read_state_t state;
    uint64_t heartbeat_id;
    uint64_t index;
    uint64_t deadline_ms;
} pending_read_t;

typedef struct heartbeat_sent {
    uint64_t id;
    uint64_t send_ms;
    uint32_t ack_mask;
    bool quorum;
} heartbeat_sent_t;

typedef struct phase1 {
    ballot_t ballot;
    ballot_t waived;
    uint64_t from_slot;
    uint64_t part_from[NODES_MAX + 1]; /* the part each acceptor owes next */
    uint32_t complete_mask;
    uint32_t reject_mask;
    /* The highest slot a promiser compacted into a snapshot (it reports nothing at or
     * below it) and who: those slots are fetched, never proposed. */
    uint64_t compacted_upto;
    uint32_t compacted_holder;
    uint64_t report_first; /* reports held in log entries [report_first, report_end) */
    uint64_t report_end;
    uint64_t started_ms;
    uint64_t resend_ms;
} phase1_t;

typedef struct rejoin {
    uint64_t wait_until_ms;
    uint64_t resend_ms;
    bool asking;
    uint64_t part_from[NODES_MAX + 1];
    uint32_t complete_mask;
    uint64_t max_chosen_upto;
    uint32_t chosen_holder;
} rejoin_t;

typedef struct outbox {
    node_outputs_t out;
    size_t record_capacity;
    size_t message_capacity;
    size_t apply_capacity;
    size_t reply_capacity;
    size_t read_capacity;
    size_t event_capacity;
    msg_fifo_t gated;
    msg_fifo_t self;
    uint64_t persist_seq;
    uint64_t persisted_seq;
    uint64_t acceptor_seq; /* the newest PROMISE or ACCEPT record */
} outbox_t;

struct node {
    node_config_t cfg;
    rng_t rng;
    uint64_t now_ms;
    bool started;
    bool settling;

    /* Acceptor. */
    ballot_t promised;
    /* Seq of the record that makes `promised` durable (0: recovered, durable); while
     * promise_unrecorded, the promise was raised by an Accept whose ACCEPT record is not
     * written yet. */
    uint64_t promise_seq;
    bool promise_unrecorded;
    ballot_t highest_seen;
    ballot_t lease_grant_ballot;
    uint64_t lease_grant_until_ms;
    ballot_t heard_leader_ballot; /* the live leader this acceptor last heard */
    uint64_t leader_heard_ms;
    uint64_t refuse_prepare_until_ms;
    bool rejoining;
    rejoin_t rejoin;

    /* Log and learner. */
    log_t log;
    uint64_t chosen_upto;
    uint64_t applied_upto;
    uint64_t chosen_recorded;
    uint64_t recovered_chosen;
    uint64_t highest_accepted_slot;
    uint64_t commit_seen;
    uint32_t commit_source;
    uint64_t learn_request_ms;
    bool learn_requested;
    uint32_t learn_attempts; /* unanswered requests since the prefix last grew */

    /* Role. */
    node_role_t role;
    ballot_t leader_ballot;
    uint32_t leader;
    ballot_t own_ballot;
    uint64_t election_deadline_ms;
    uint32_t backoff_attempt;
    phase1_t p1;

    /* Leader. */
    uint64_t next_slot;
    uint64_t noop_slot;
    uint64_t retransmit_due_ms;
    uint64_t heartbeat_due_ms;
    uint64_t heartbeat_next_id;
    uint64_t heartbeat_quorum_id;
    bool heartbeat_wanted;
    uint64_t commit_announced; /* the chosen prefix last sent to all on an Accept or heartbeat */
    heartbeat_sent_t heartbeats[HEARTBEAT_HISTORY];
    uint64_t quorum_heard_ms;
    uint64_t lease_until_ms;
    bool lease_active;

    /* Client commands waiting at the leader (ring). */
    pending_command_t *pending;
    uint32_t pending_head;
    uint32_t pending_count;
    uint32_t pending_capacity;
    uint64_t pending_bytes;

    pending_read_t *reads;
    uint32_t read_count;
    uint32_t read_capacity;

    outbox_t outbox;

    /* Membership (config.c): the configurations of the chosen prefix. */
    config_state_t cs;
    uint32_t promised_mask; /* leader: the acceptors that promised its ballot */
    uint64_t config_slot;   /* leader: the slot of its CONFIG proposal in flight, 0 none */
    uint64_t carry_end;     /* leader: reported slots below this are still to carry forward */
    uint64_t member_chosen[NODES_MAX + 1]; /* leader: chosen prefix each member reported */
    uint32_t member_heard;                 /* leader: members that answered a heartbeat */

    /* Messages refused at entry (admit.c) and the last reason. */
    uint64_t refused_count;
    char refusal[NODE_REFUSAL_BYTES];
};

/* config.c: quorums by configuration (docs/design.md "Membership change"). The window is
 * [chosen_upto + 1, chosen_upto + CONFIG_ALPHA]: every slot a leader may propose. */
/* Every member of a configuration that governs a slot of the window (self included). */
uint32_t node_member_mask(const node_t *node);
/* mask holds a majority of the voters of the configuration governing slot. */
bool node_slot_quorum(const node_t *node, uint64_t slot, uint32_t mask);
/* mask holds a majority of the voters of every configuration governing the window. */
bool node_window_quorum(const node_t *node, uint32_t mask);
/* This node is the only voter of every configuration of the window. */
bool node_alone(const node_t *node);
/* This node is a voter of the configuration of its next slot. */
bool node_is_voter(const node_t *node);
/* The chosen prefix grew past a CONFIG value that took effect. */
void node_config_advanced(node_t *node);

/* log.c */
bool log_init(log_t *log);
void log_free(log_t *log);
/* Makes slot addressable; false when below the log, over LOG_SLOTS_MAX, or no memory. */
bool log_reserve(log_t *log, uint64_t slot);
bool log_can_hold(const log_t *log, uint64_t slot);
log_entry_t *log_get(const log_t *log, uint64_t slot);
void log_truncate_prefix(log_t *log, uint64_t upto);
const value_t *log_chosen_value(const log_entry_t *e);
void log_entry_clear_proposal(log_entry_t *e);

/* outbox.c */
bool outbox_init(outbox_t *ob);
void outbox_free(outbox_t *ob);
event_t node_event(const node_t *node, event_kind_t kind, ballot_t ballot);
void node_emit(node_t *node, const event_t *ev);
/* Takes ownership of *m. It leaves once every record up to after_seq is durable (records
 * persist in write order): after_seq names the newest record the message depends on, or
 * OUTBOX_NOW. Messages to self are delivered inside the core, never output. */
void outbox_post(node_t *node, msg_t *m, uint64_t after_seq);
/* Sends a copy of *m to every node (self included when include_self); frees *m. */
void outbox_broadcast(node_t *node, msg_t *m, bool include_self, uint64_t after_seq);
uint64_t outbox_persist(node_t *node, persist_kind_t kind, ballot_t ballot, uint64_t slot,
                        const value_t *value);
void outbox_apply(node_t *node, uint64_t slot, const value_t *value);
void outbox_reply(node_t *node, const client_reply_t *reply);
void outbox_read(node_t *node, const read_result_t *result);
void outbox_release(node_t *node);
void outbox_deliver_self(node_t *node);

/* acceptor.c */
void acceptor_on_prepare(node_t *node, const msg_t *m);
void acceptor_on_accept(node_t *node, const msg_t *m);
void acceptor_on_heartbeat(node_t *node, const msg_t *m);
void acceptor_on_rejoin(node_t *node, const msg_t *m);
/* Fills entries accepted at >= from_slot, in a bounded part. False when out of memory. */
bool acceptor_report(const node_t *node, msg_promise_t *p, uint64_t from_slot);
/* Raises the promise to b, writing a PROMISE record when persist; otherwise the caller
 * writes the ACCEPT record at b that implies it (accept_store). */
void acceptor_raise_promise(node_t *node, ballot_t b, bool persist);
/* Makes sure a record stands for the current promise (writing a PROMISE record when the
 * Accept that raised it wrote none) and returns its seq: an answer standing for the
 * promise waits for it. */
uint64_t acceptor_record_promise(node_t *node);

/* proposer.c */
void proposer_start_phase1(node_t *node, ballot_t waived);
void proposer_on_promise(node_t *node, const msg_t *m);
void proposer_on_accepted(node_t *node, const msg_t *m);
void proposer_on_reject(node_t *node, const msg_t *m);
void proposer_abandon(node_t *node);
void proposer_fill_window(node_t *node);
void proposer_tick(node_t *node);
uint64_t proposer_deadline(const node_t *node);
uint32_t proposer_in_flight(const node_t *node);

/* learner.c */
void learner_mark_chosen(node_t *node, uint64_t slot, event_kind_t why, ballot_t ballot);
/* Records *value (taken) as slot's chosen value; `ballot` is the ballot it was chosen at
 * when known (BALLOT_NONE otherwise). */
void learner_choose(node_t *node, uint64_t slot, value_t *value, event_kind_t why, ballot_t ballot);
void learner_advance(node_t *node);
void learner_on_commit(node_t *node, ballot_t b, uint64_t commit, uint32_t from);
void learner_on_learn_request(node_t *node, const msg_t *m);
void learner_on_learn(node_t *node, const msg_t *m);
/* Tells `to` that this node compacted everything below its log's first slot into a
 * snapshot: a Learn with no entries and snapshot_slot set. */
void learner_send_snapshot_pointer(node_t *node, uint32_t to);
void learner_request(node_t *node, uint32_t to, bool force);
void learner_note_commit(node_t *node, uint64_t commit, uint32_t holder);
void learner_tick(node_t *node);
void learner_record_chosen(node_t *node);

/* lease.c */
void lease_send_heartbeat(node_t *node);
/* Whether the leader should send a heartbeat now to tell followers of a commit that no
 * Accept or heartbeat has carried yet. */
bool lease_commit_notice_due(const node_t *node);
void lease_on_heartbeat_ack(node_t *node, const msg_t *m);
void lease_on_read_index(node_t *node, const msg_t *m);
void lease_on_read_index_reply(node_t *node, const msg_t *m);
void lease_void(node_t *node);
void lease_reads_progress(node_t *node);
void lease_reads_fail_all(node_t *node, bool leader_side_only);
void lease_tick(node_t *node);
uint64_t lease_deadline(const node_t *node);
bool lease_noop_applied(const node_t *node);

/* election.c */
void election_observe(node_t *node, ballot_t b);
void election_reset_timer(node_t *node);
void election_follow(node_t *node, ballot_t b);
void election_step_down(node_t *node, step_down_reason_t reason, ballot_t other, uint32_t peer);
void election_backoff(node_t *node, ballot_t winner);
void election_on_timeout_now(node_t *node, const msg_t *m);
void election_tick(node_t *node);
uint64_t election_deadline(const node_t *node);

/* rejoin.c */
void rejoin_begin(node_t *node);
void rejoin_on_reply(node_t *node, const msg_t *m);
void rejoin_tick(node_t *node);
/* Finishes the rejoin once a majority answered and their chosen prefix is learned. */
void rejoin_progress(node_t *node);
uint64_t rejoin_deadline(const node_t *node);

/* client.c */
void client_on_forward(node_t *node, const msg_t *m);
void client_on_forward_reply(node_t *node, const msg_t *m);
bool client_take_batch(node_t *node, value_t *out, event_t *ev);
void client_fail_pending(node_t *node);
void client_free(node_t *node);

/* admit.c */
/* Checks a validated message from another member against this node's state: BALLOT_OK,
 * BALLOT_EINVAL or BALLOT_ECONFLICT, with the reason in node->refusal. Changes nothing
 * else. */
int node_admit(node_t *node, const msg_t *m);

/* node.c */
void node_dispatch(node_t *node, const msg_t *m);
/* Runs what an input set in motion: deliveries to self, new batches, heartbeats for
 * reads, satisfied reads, the CHOSEN record. Every public entry point ends with it. */
void node_settle(node_t *node);
uint32_t node_popcount(uint32_t mask);
uint32_t node_bit(uint32_t id);

#endif
