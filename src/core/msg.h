/* Messages between nodes (docs/design.md "The protocol"). src/wire encodes these for TCP; the
 * simulator passes them as they are. A message owns every heap buffer it points to. */
#ifndef BALLOT_CORE_MSG_H
#define BALLOT_CORE_MSG_H

#include "core/ballot.h"
#include "core/value.h"

/* Node ids are 1..NODES_MAX; 0 means "nobody". */
#define NODES_MAX NODE_IDS_MAX /* core/value.h */
#define NODE_NONE 0u
/* A Promise or Learn carries at most this many entries; the rest follows in more parts. */
#define MSG_ENTRIES_MAX 512u
/* The highest slot any message may name (slots, commits, chosen prefixes): far above any
 * log, low enough that slot arithmetic never wraps (docs/security.md "Bounds on input and
 * memory"). */
#define SLOT_MAX ((uint64_t)1 << 62)
/* Encoded size bound of one message (values included). */
#define MSG_BYTES_MAX ((uint32_t)(8u * 1024u * 1024u))

typedef enum msg_type {
    MSG_PREPARE = 1,   /* phase 1a */
    MSG_PROMISE = 2,   /* phase 1b */
    MSG_ACCEPT = 3,    /* phase 2a, also carries the chosen prefix */
    MSG_ACCEPTED = 4,  /* phase 2b */
    MSG_REJECT = 5,    /* "you lost, to this ballot" */
    MSG_HEARTBEAT = 6, /* leader liveness, lease renewal, chosen prefix */
    MSG_HEARTBEAT_ACK = 7,
    MSG_LEARN_REQUEST = 8,  /* a lagging node asks for chosen slots */
    MSG_LEARN = 9,          /* chosen slots, from one that knows them */
    MSG_FORWARD = 10,       /* a follower hands a client command to the leader */
    MSG_FORWARD_REPLY = 11, /* the leader could not take a forwarded command */
    MSG_READ_INDEX = 12,    /* a follower asks the leader for a safe read index */
    MSG_READ_INDEX_REPLY = 13,
    MSG_TIMEOUT_NOW = 14,  /* leadership transfer: start phase 1 now */
    MSG_REJOIN = 15,       /* a node that lost its disk reads a majority's acceptor state */
    MSG_REJOIN_REPLY = 16, /* msg_promise_t: ballot = the replier's promise, its accepted */
} msg_type_t;
#define MSG_TYPE_MIN MSG_PREPARE
#define MSG_TYPE_MAX MSG_REJOIN_REPLY

/* One accepted (or chosen) log line. */
typedef struct msg_entry {
    uint64_t slot;
    ballot_t ballot; /* ballot it was accepted at; BALLOT_NONE in LEARN */
    value_t value;
} msg_entry_t;

typedef struct msg_prepare {
    ballot_t ballot;
    uint64_t from_slot;
    /* Non-NONE when the leader of this ballot handed over to the sender (TIMEOUT_NOW):
     * acceptors may then set aside the lease and liveness they hold for it. */
    ballot_t waived_ballot;
} msg_prepare_t;

typedef struct msg_promise {
    ballot_t ballot;
    uint64_t from_slot;
    /* 0 when this part reports everything at >= from_slot; otherwise the slot at which
     * the next part starts (the proposer asks again with Prepare(ballot, next_slot)). */
    uint64_t next_slot;
    /* The acceptor's chosen prefix: every slot <= chosen_upto is known chosen to it. */
    uint64_t chosen_upto;
    /* The acceptor reports faithfully only from this slot on: slots below it were
     * compacted into a snapshot (all chosen), so its silence there is not a hole. */
    uint64_t log_first_slot;
    uint32_t entry_count;
    msg_entry_t *entries;
} msg_promise_t;

typedef struct msg_accept {
    ballot_t ballot;
    uint64_t slot;
    value_t value;
    uint64_t commit; /* the leader's chosen prefix */
} msg_accept_t;

typedef struct msg_accepted {
    ballot_t ballot;
    uint64_t slot;
} msg_accepted_t;

typedef enum reject_reason {
    REJECT_PROMISED = 1,     /* promised a higher ballot */
    REJECT_LEASE = 2,        /* a lease for another leader is running */
    REJECT_LEADER_ALIVE = 3, /* heard a live leader within the election timeout */
    REJECT_RECOVERING = 4,   /* restarted; waiting out leases it may have granted */
} reject_reason_t;
#define REJECT_REASON_MAX REJECT_RECOVERING

typedef struct msg_reject {
    msg_type_t rejected_type; /* PREPARE, ACCEPT or HEARTBEAT */
    ballot_t ballot;          /* the ballot that was refused */
    ballot_t promised;        /* the ballot that beat it (the acceptor's promise) */
    uint64_t slot;            /* for ACCEPT */
    reject_reason_t reason;
} msg_reject_t;

typedef struct msg_heartbeat {
    ballot_t ballot;
    uint64_t commit;
    uint64_t heartbeat_id; /* echoed in the ack; the leader times leases from its send */
} msg_heartbeat_t;

typedef struct msg_heartbeat_ack {
    ballot_t ballot;
    uint64_t heartbeat_id;
    uint64_t chosen_upto; /* lets the leader see who lags */
} msg_heartbeat_ack_t;

typedef struct msg_learn_request {
    uint64_t from_slot;
} msg_learn_request_t;

typedef struct msg_learn {
    ballot_t ballot; /* sender's promised ballot, for staleness checks */
    /* Chosen entries, consecutive from entries[0].slot. When the sender no longer holds
     * the slots asked for (compacted into a snapshot), entry_count is 0 and
     * snapshot_slot says where its snapshot ends. */
    uint32_t entry_count;
    msg_entry_t *entries;
    uint64_t snapshot_slot;
} msg_learn_t;

typedef struct msg_forward {
    uint64_t client_id;
    uint64_t sequence;
    value_t payload; /* the command's bytes, as a BATCH-less raw buffer (kind BATCH) */
} msg_forward_t;

typedef enum forward_status {
    FORWARD_NOT_LEADER = 1,
    FORWARD_BUSY = 2,
} forward_status_t;

typedef struct msg_forward_reply {
    uint64_t client_id;
    uint64_t sequence;
    forward_status_t status;
    uint32_t leader; /* who the replier thinks leads, or NODE_NONE */
} msg_forward_reply_t;

typedef struct msg_read_index {
    uint64_t read_id;
} msg_read_index_t;

typedef struct msg_read_index_reply {
    uint64_t read_id;
    bool ok;        /* false: not leader (see leader) */
    uint64_t index; /* apply up to here, then read */
    uint32_t leader;
} msg_read_index_reply_t;

typedef struct msg_rejoin {
    uint64_t from_slot;
} msg_rejoin_t;

typedef struct msg_timeout_now {
    ballot_t ballot; /* the leader handing over */
} msg_timeout_now_t;

typedef struct msg {
    msg_type_t type;
    uint32_t from;
    uint32_t to;
    union {
        msg_prepare_t prepare;
        msg_promise_t promise;
        msg_accept_t accept;
        msg_accepted_t accepted;
        msg_reject_t reject;
        msg_heartbeat_t heartbeat;
        msg_heartbeat_ack_t heartbeat_ack;
        msg_learn_request_t learn_request;
        msg_learn_t learn;
        msg_forward_t forward;
        msg_forward_reply_t forward_reply;
        msg_read_index_t read_index;
        msg_read_index_reply_t read_index_reply;
        msg_timeout_now_t timeout_now;
        msg_rejoin_t rejoin;
        msg_promise_t rejoin_reply;
    } u;
} msg_t;

/* Frees what the message owns and zeroes it. */
void msg_free(msg_t *m);
/* Deep copy; false when out of memory. */
bool msg_copy(msg_t *out, const msg_t *in);
const char *msg_type_name(msg_type_t type);
/* Checks everything a decoder cannot: known type, node ids in 1..NODES_MAX, rounds within
 * BALLOT_ROUND_MAX, slots within SLOT_MAX, entry counts and value sizes within bounds,
 * batches well formed, forwarded client ids and sequences within COMMAND_SEQUENCE_MAX. Messages
 * from the network pass this before the core sees them; the core calls it again and drops what
 * fails. */
bool msg_validate(const msg_t *m);

#endif
