#include "core/event.h"

#include <string.h>

#include "core/check.h"

static const char *const event_names[] = {
    [EVENT_PREPARE_SENT] = "prepare_sent",
    [EVENT_PREPARE_RECEIVED] = "prepare_received",
    [EVENT_PROMISE_SENT] = "promise_sent",
    [EVENT_PROMISE_RECEIVED] = "promise_received",
    [EVENT_REJECT_SENT] = "reject_sent",
    [EVENT_REJECT_RECEIVED] = "reject_received",
    [EVENT_ACCEPT_SENT] = "accept_sent",
    [EVENT_ACCEPTED] = "accepted",
    [EVENT_CHOSEN] = "chosen",
    [EVENT_LEARNED] = "learned",
    [EVENT_CARRIED_FORWARD] = "carried_forward",
    [EVENT_NOOP_FILLED] = "noop_filled",
    [EVENT_LEASE_GRANTED] = "lease_granted",
    [EVENT_LEASE_ACQUIRED] = "lease_acquired",
    [EVENT_LEASE_EXPIRED] = "lease_expired",
    [EVENT_LEASE_REFUSED] = "lease_refused",
    [EVENT_LEADER_ELECTED] = "leader_elected",
    [EVENT_STEPPED_DOWN] = "stepped_down",
    [EVENT_BACKOFF] = "backoff",
    [EVENT_ELECTION_TIMEOUT] = "election_timeout",
    [EVENT_PROPOSED] = "proposed",
    [EVENT_RECOVERED] = "recovered",
    [EVENT_APPLIED] = "applied",
    [EVENT_CONFIG_CHOSEN] = "config_chosen",
};

const char *event_kind_name(event_kind_t kind)
{
    if ((int)kind < EVENT_PREPARE_SENT || (int)kind > EVENT_KIND_MAX) {
        return "unknown";
    }
    assert(event_names[kind] != NULL);
    return event_names[kind];
}

event_kind_t event_kind_from_name(const char *name)
{
    if (name == NULL) {
        return (event_kind_t)0;
    }
    for (int kind = EVENT_PREPARE_SENT; kind <= EVENT_KIND_MAX; kind++) {
        if (strcmp(event_names[kind], name) == 0) {
            return (event_kind_t)kind;
        }
    }
    return (event_kind_t)0;
}
