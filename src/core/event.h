/* Protocol events: what happened, under which ballot, to which slots. The core emits them
 * as outputs so that ballotd and the simulator trace exactly the same things; src/trace
 * writes and reads them, and `ballot trace` groups them by generation (ballot). */
#ifndef BALLOT_CORE_EVENT_H
#define BALLOT_CORE_EVENT_H

#include "core/ballot.h"

/* An event names at most this many client commands inline; command_count tells all. */
#define EVENT_COMMANDS_MAX 4u

typedef enum event_kind {
    EVENT_PREPARE_SENT = 1, /* ballot, slot_first = from */
    EVENT_PREPARE_RECEIVED, /* ballot, peer = proposer */
    EVENT_PROMISE_SENT,     /* ballot, peer, slot range + count of accepted reported */
    EVENT_PROMISE_RECEIVED, /* ballot, peer, slots reported */
    EVENT_REJECT_SENT,      /* ballot refused, other_ballot = the one that beat it */
    EVENT_REJECT_RECEIVED,  /* ballot refused, other_ballot = winner, peer = rejecter */
    EVENT_ACCEPT_SENT,      /* ballot, slot, commands */
    EVENT_ACCEPTED,         /* this acceptor accepted (ballot, slot) */
    EVENT_CHOSEN,           /* slot chosen at ballot (leader: majority seen) */
    EVENT_LEARNED,          /* slot learned chosen from the leader's commit or a Learn */
    EVENT_CARRIED_FORWARD,  /* slot re-proposed with the value of other_ballot */
    EVENT_NOOP_FILLED,      /* slot was a hole below the highest reported; got a no-op */
    EVENT_LEASE_GRANTED,    /* acceptor granted peer's ballot a lease until until_ms */
    EVENT_LEASE_ACQUIRED,   /* leader holds a majority lease until until_ms */
    EVENT_LEASE_EXPIRED,    /* leader's lease ran out */
    EVENT_LEASE_REFUSED,    /* a Prepare refused because of a lease or a live leader */
    EVENT_LEADER_ELECTED,   /* this node leads ballot */
    EVENT_STEPPED_DOWN,     /* this node stopped leading ballot; other_ballot: why */
    EVENT_BACKOFF,          /* waiting duration_ms before the next attempt */
    EVENT_ELECTION_TIMEOUT, /* no leader heard for duration_ms */
    EVENT_PROPOSED,         /* new client commands into slot */
    EVENT_RECOVERED,        /* node started from durable state: promised ballot */
    EVENT_APPLIED,          /* slot applied to the state machine */
    EVENT_CONFIG_CHOSEN,    /* slot_first holds a membership change (epoch in peer) that
                             * governs slots from slot_last on */
} event_kind_t;
#define EVENT_KIND_MAX EVENT_CONFIG_CHOSEN

typedef enum step_down_reason {
    STEP_DOWN_NONE = 0,
    STEP_DOWN_SUPERSEDED = 1, /* saw other_ballot above its own */
    STEP_DOWN_NO_QUORUM = 2,  /* no majority heard within the election timeout */
    STEP_DOWN_TRANSFER = 3,   /* handed leadership to peer */
    STEP_DOWN_REMOVED = 4,    /* no longer a voter of the configuration of its next slot */
} step_down_reason_t;
#define STEP_DOWN_REASON_MAX STEP_DOWN_REMOVED

typedef struct event {
    event_kind_t kind;
    uint64_t time_ms; /* the node's own clock */
    uint32_t node;
    ballot_t ballot;
    uint64_t slot_first;
    uint64_t slot_last;
    uint32_t peer;
    ballot_t other_ballot;
    uint64_t until_ms;
    uint64_t duration_ms;
    uint32_t reason; /* reject_reason_t or step_down_reason_t, per kind */
    uint32_t command_count;
    uint64_t client_ids[EVENT_COMMANDS_MAX];
    uint64_t sequences[EVENT_COMMANDS_MAX];
} event_t;

const char *event_kind_name(event_kind_t kind);
/* Inverse of event_kind_name; 0 when unknown. */
event_kind_t event_kind_from_name(const char *name);

#endif
