/* Hand-written event sequences for the seeds' scenarios, with the fields the core fills
 * (src/core/acceptor.c, proposer.c, election.c): a Promise names the slot it reports from
 * and counts the accepted entries it reports in command_count (promise_received also names
 * the last reported slot); an Accepted or a Reject of an Accept names its slot; a lease
 * grant names the leader (peer) and its end (until_ms); an election timeout names the
 * ballot of the leader it stopped hearing; a backoff names the failed ballot and the winner
 * when known; retransmissions are not traced.
 *
 * Each scenario is the story of a seed, told as every node would trace it. The golden
 * views in golden/ are what `ballot trace` prints for them; read them beside the seeds. */
#include "scenarios.h"

#include "core/check.h"
#include "core/msg.h"

#define B(r, n) ((ballot_t){.round = (r), .node = (n)})
#define EV(...) scenario_add(out, (event_t){__VA_ARGS__})

/* The seeds' client command X is (client 7, seq 1); the later Y is (client 7, seq 2). */
#define CMD_X .command_count = 1, .client_ids = {7}, .sequences = {1}
#define CMD_Y .command_count = 1, .client_ids = {7}, .sequences = {2}

void scenario_add(scenario_events_t *out, event_t event)
{
    assert(out->count < SCENARIO_EVENTS_MAX);
    out->events[out->count++] = event;
}

/* A node's own phase 1a/1b: it prepares, and promises itself through the internal path,
 * reporting `reported` accepted entries, the last of them at last_slot. */
static void self_prepare(scenario_events_t *out, uint64_t t, uint32_t n, ballot_t b, uint64_t from,
                         uint32_t reported, uint64_t last_slot)
{
    EV(.time_ms = t, .node = n, .kind = EVENT_PREPARE_SENT, .ballot = b, .slot_first = from);
    EV(.time_ms = t, .node = n, .kind = EVENT_PREPARE_RECEIVED, .ballot = b, .peer = n,
       .slot_first = from);
    EV(.time_ms = t, .node = n, .kind = EVENT_PROMISE_SENT, .ballot = b, .peer = n,
       .slot_first = from, .command_count = reported);
    EV(.time_ms = t, .node = n, .kind = EVENT_PROMISE_RECEIVED, .ballot = b, .peer = n,
       .slot_first = from, .slot_last = last_slot, .command_count = reported);
}

/* Acceptor `a` gets Prepare(b, from) from b's node and promises, reporting `reported`. */
static void promise(scenario_events_t *out, uint64_t t, uint32_t a, ballot_t b, uint64_t from,
                    uint32_t reported)
{
    EV(.time_ms = t, .node = a, .kind = EVENT_PREPARE_RECEIVED, .ballot = b, .peer = b.node,
       .slot_first = from);
    EV(.time_ms = t, .node = a, .kind = EVENT_PROMISE_SENT, .ballot = b, .peer = b.node,
       .slot_first = from, .command_count = reported);
}

/* The proposer counts a's Promise; the report's last slot is last_slot (0: none). */
static void promise_counted(scenario_events_t *out, uint64_t t, uint32_t a, ballot_t b,
                            uint64_t from, uint32_t reported, uint64_t last_slot)
{
    EV(.time_ms = t, .node = b.node, .kind = EVENT_PROMISE_RECEIVED, .ballot = b, .peer = a,
       .slot_first = from, .slot_last = last_slot, .command_count = reported);
}

static void accepted(scenario_events_t *out, uint64_t t, uint32_t a, ballot_t b, uint64_t slot)
{
    EV(.time_ms = t, .node = a, .kind = EVENT_ACCEPTED, .ballot = b, .peer = b.node,
       .slot_first = slot, .slot_last = slot);
}

static void chosen(scenario_events_t *out, uint64_t t, ballot_t b, uint64_t slot)
{
    EV(.time_ms = t, .node = b.node, .kind = EVENT_CHOSEN, .ballot = b, .slot_first = slot,
       .slot_last = slot);
}

/* A heartbeat at t: the followers grant a lease. The leader holds it from the send time; it
 * traces lease_acquired only when it did not hold it before. */
static void heartbeat(scenario_events_t *out, uint64_t t, ballot_t b, const uint32_t *followers,
                      size_t follower_count, bool acquires)
{
    const uint64_t lease_ms = 300;
    const uint64_t drift_ms = 10;
    for (size_t i = 0; i < follower_count; i++) {
        EV(.time_ms = t + 1, .node = followers[i], .kind = EVENT_LEASE_GRANTED, .ballot = b,
           .peer = b.node, .until_ms = t + 1 + lease_ms);
    }
    if (acquires) {
        EV(.time_ms = t + 2, .node = b.node, .kind = EVENT_LEASE_ACQUIRED, .ballot = b,
           .until_ms = t + lease_ms - drift_ms);
    }
}

/* Seed 000, Example step 1: A (n1) prepares r5.n1, every DB promises, X is accepted by all
 * (in slot 2: a new leader's first slot holds its own no-op, core-design.md "Phase 1"). A
 * then stalls, before anyone but A knows that slot 2 is chosen. */
static void seed000_step1(scenario_events_t *out)
{
    const ballot_t r5 = B(5, 1);
    EV(.time_ms = 100, .node = 1, .kind = EVENT_ELECTION_TIMEOUT, .duration_ms = 300);
    self_prepare(out, 100, 1, r5, 1, 0, 0);
    promise(out, 101, 2, r5, 1, 0);
    promise(out, 101, 3, r5, 1, 0);
    promise_counted(out, 102, 2, r5, 1, 0, 0);
    EV(.time_ms = 102, .node = 1, .kind = EVENT_LEADER_ELECTED, .ballot = r5);
    EV(.time_ms = 102, .node = 1, .kind = EVENT_ACCEPT_SENT, .ballot = r5, .slot_first = 1,
       .slot_last = 1);
    promise_counted(out, 102, 3, r5, 1, 0, 0);
    for (uint32_t a = 1; a <= 3; a++) {
        accepted(out, 103, a, r5, 1);
    }
    chosen(out, 104, r5, 1);
    EV(.time_ms = 105, .node = 1, .kind = EVENT_PROPOSED, .ballot = r5, .slot_first = 2,
       .slot_last = 2, CMD_X);
    EV(.time_ms = 105, .node = 1, .kind = EVENT_ACCEPT_SENT, .ballot = r5, .slot_first = 2,
       .slot_last = 2, CMD_X);
    const uint32_t followers[] = {2, 3};
    heartbeat(out, 105, r5, followers, 2, true);
    for (uint32_t a = 2; a <= 3; a++) {
        accepted(out, 106, a, r5, 2);
        EV(.time_ms = 106, .node = a, .kind = EVENT_LEARNED, .ballot = r5, .slot_first = 1,
           .slot_last = 1);
    }
    accepted(out, 107, 1, r5, 2);
    chosen(out, 107, r5, 2);
}

/* Step 2: B (n2) times out and prepares r8.n2 from slot 2. n2 and n3 report (X, r5.n1) in
 * slot 2, so B must carry X forward rather than write its own value. */
static void seed000_step2(scenario_events_t *out)
{
    const ballot_t r5 = B(5, 1);
    const ballot_t r8 = B(8, 2);
    EV(.time_ms = 456, .node = 2, .kind = EVENT_ELECTION_TIMEOUT, .ballot = r5, .duration_ms = 350);
    self_prepare(out, 456, 2, r8, 2, 1, 2);
    promise(out, 457, 3, r8, 2, 1);
    promise_counted(out, 458, 3, r8, 2, 1, 2);
    EV(.time_ms = 458, .node = 2, .kind = EVENT_LEADER_ELECTED, .ballot = r8);
    EV(.time_ms = 458, .node = 2, .kind = EVENT_CARRIED_FORWARD, .ballot = r8, .slot_first = 2,
       .slot_last = 2, .other_ballot = r5, CMD_X);
    EV(.time_ms = 458, .node = 2, .kind = EVENT_ACCEPT_SENT, .ballot = r8, .slot_first = 2,
       .slot_last = 2, CMD_X);
    EV(.time_ms = 458, .node = 2, .kind = EVENT_ACCEPT_SENT, .ballot = r8, .slot_first = 3,
       .slot_last = 3);
    for (uint64_t slot = 2; slot <= 3; slot++) {
        accepted(out, 459, 2, r8, slot);
        accepted(out, 459, 3, r8, slot);
    }
    chosen(out, 460, r8, 2);
    chosen(out, 460, r8, 3);
    const uint32_t followers[] = {3};
    heartbeat(out, 460, r8, followers, 1, true);
    EV(.time_ms = 461, .node = 3, .kind = EVENT_LEARNED, .ballot = r8, .slot_first = 2,
       .slot_last = 3);
}

/* Step 3: A wakes and writes Y under its old ballot 5 (a Multi-Paxos leader skips phase 1
 * for new slots, so "A tries again with T=5" is its next Accept). Both DBs that promised 8
 * reject it naming r8.n2; A steps down and follows r8.n2. */
static void seed000_step3(scenario_events_t *out)
{
    const ballot_t r5 = B(5, 1);
    const ballot_t r8 = B(8, 2);
    EV(.time_ms = 600, .node = 1, .kind = EVENT_LEASE_EXPIRED, .ballot = r5);
    EV(.time_ms = 600, .node = 1, .kind = EVENT_PROPOSED, .ballot = r5, .slot_first = 3,
       .slot_last = 3, CMD_Y);
    EV(.time_ms = 600, .node = 1, .kind = EVENT_ACCEPT_SENT, .ballot = r5, .slot_first = 3,
       .slot_last = 3, CMD_Y);
    accepted(out, 601, 1, r5, 3);
    for (uint32_t a = 2; a <= 3; a++) {
        EV(.time_ms = 601, .node = a, .kind = EVENT_REJECT_SENT, .ballot = r5, .peer = 1,
           .other_ballot = r8, .reason = REJECT_PROMISED, .slot_first = 3, .slot_last = 3);
    }
    EV(.time_ms = 602, .node = 1, .kind = EVENT_REJECT_RECEIVED, .ballot = r5, .peer = 2,
       .other_ballot = r8, .reason = REJECT_PROMISED, .slot_first = 3, .slot_last = 3);
    EV(.time_ms = 602, .node = 1, .kind = EVENT_STEPPED_DOWN, .ballot = r5, .peer = 2,
       .other_ballot = r8, .reason = STEP_DOWN_SUPERSEDED);
    EV(.time_ms = 602, .node = 1, .kind = EVENT_BACKOFF, .ballot = r5, .other_ballot = r8,
       .duration_ms = 23);
    EV(.time_ms = 603, .node = 1, .kind = EVENT_REJECT_RECEIVED, .ballot = r5, .peer = 3,
       .other_ballot = r8, .reason = REJECT_PROMISED, .slot_first = 3, .slot_last = 3);
    const uint32_t followers[] = {1, 3};
    heartbeat(out, 610, r8, followers, 2, false);
    EV(.time_ms = 611, .node = 1, .kind = EVENT_LEARNED, .ballot = r8, .slot_first = 2,
       .slot_last = 3);
}

static void produce_seed000(scenario_events_t *out)
{
    out->node_count = 3;
    seed000_step1(out);
    seed000_step2(out);
    seed000_step3(out);
}

/* Seed 001, first round. The seed's three nodes have node 3 as the only acceptor both
 * coordinators reach; in Ballot every node is an acceptor too, so the same deadlock needs
 * five nodes: n4 and n5 are down and the n1-n2 link is cut. n3 promises b1 = r1.n1, then
 * b2 = r1.n2; each coordinator counts itself and n3: 2 of 5, no majority. */
static void seed001_round1(scenario_events_t *out)
{
    const ballot_t b1 = B(1, 1);
    const ballot_t b2 = B(1, 2);
    EV(.time_ms = 100, .node = 1, .kind = EVENT_ELECTION_TIMEOUT, .duration_ms = 400);
    self_prepare(out, 100, 1, b1, 1, 0, 0);
    EV(.time_ms = 100, .node = 2, .kind = EVENT_ELECTION_TIMEOUT, .duration_ms = 400);
    self_prepare(out, 100, 2, b2, 1, 0, 0);
    promise(out, 102, 3, b1, 1, 0);
    promise(out, 103, 3, b2, 1, 0);
    promise_counted(out, 104, 3, b1, 1, 0, 0);
    promise_counted(out, 105, 3, b2, 1, 0, 0);
    /* Retransmits (not traced) to the nodes that did not answer reach nobody. With no
     * majority after three retransmit periods both back off, for randomized times. */
    EV(.time_ms = 250, .node = 1, .kind = EVENT_BACKOFF, .ballot = b1, .duration_ms = 36);
    EV(.time_ms = 250, .node = 2, .kind = EVENT_BACKOFF, .ballot = b2, .duration_ms = 38);
}

/* Second round: the n1-n2 link is back. Both retry; n2's r2.n2 is the higher ballot. n3
 * again promises both; n2 rejects r2.n1 (it promised itself r2.n2); n1 gets r2.n2's
 * Prepare, steps down and promises it. r2.n2 wins with n1, n2 and n3: 3 of 5. */
static void seed001_round2(scenario_events_t *out)
{
    const ballot_t r2n1 = B(2, 1);
    const ballot_t r2n2 = B(2, 2);
    self_prepare(out, 286, 1, r2n1, 1, 0, 0);
    self_prepare(out, 288, 2, r2n2, 1, 0, 0);
    promise(out, 288, 3, r2n1, 1, 0);
    EV(.time_ms = 289, .node = 2, .kind = EVENT_PREPARE_RECEIVED, .ballot = r2n1, .peer = 1,
       .slot_first = 1);
    EV(.time_ms = 289, .node = 2, .kind = EVENT_REJECT_SENT, .ballot = r2n1, .peer = 1,
       .other_ballot = r2n2, .reason = REJECT_PROMISED);
    promise_counted(out, 289, 3, r2n1, 1, 0, 0);
    EV(.time_ms = 290, .node = 1, .kind = EVENT_PREPARE_RECEIVED, .ballot = r2n2, .peer = 2,
       .slot_first = 1);
    EV(.time_ms = 290, .node = 1, .kind = EVENT_STEPPED_DOWN, .ballot = r2n1, .peer = 2,
       .other_ballot = r2n2, .reason = STEP_DOWN_SUPERSEDED);
    EV(.time_ms = 290, .node = 1, .kind = EVENT_PROMISE_SENT, .ballot = r2n2, .peer = 2,
       .slot_first = 1);
    promise(out, 290, 3, r2n2, 1, 0);
    EV(.time_ms = 291, .node = 1, .kind = EVENT_REJECT_RECEIVED, .ballot = r2n1, .peer = 2,
       .other_ballot = r2n2, .reason = REJECT_PROMISED);
    promise_counted(out, 291, 1, r2n2, 1, 0, 0);
    promise_counted(out, 292, 3, r2n2, 1, 0, 0);
    EV(.time_ms = 292, .node = 2, .kind = EVENT_LEADER_ELECTED, .ballot = r2n2);
}

static void produce_seed001(scenario_events_t *out)
{
    const ballot_t r2n2 = B(2, 2);
    out->node_count = 5;
    seed001_round1(out);
    seed001_round2(out);
    EV(.time_ms = 292, .node = 2, .kind = EVENT_ACCEPT_SENT, .ballot = r2n2, .slot_first = 1,
       .slot_last = 1);
    for (uint32_t a = 1; a <= 3; a++) {
        accepted(out, 293, a, r2n2, 1);
    }
    chosen(out, 294, r2n2, 1);
    const uint32_t followers[] = {1, 3};
    heartbeat(out, 294, r2n2, followers, 2, true);
    for (uint32_t a = 1; a <= 3; a += 2) {
        EV(.time_ms = 295, .node = a, .kind = EVENT_LEARNED, .ballot = r2n2, .slot_first = 1,
           .slot_last = 1);
    }
}

/* Leader b writes slots first..last, one a millisecond from t: client commands (client,
 * seq0, seq0 + 1, ...) or, with client 0, no-ops. Every node of `acceptors` (a bit per node)
 * accepts; the other acceptors learn each slot from the next Accept's commit. Returns the
 * time after the last slot. */
static uint64_t steady(scenario_events_t *out, uint64_t t, ballot_t b, uint64_t first,
                       uint64_t last, uint64_t client, uint64_t seq0, uint32_t acceptors)
{
    for (uint64_t slot = first; slot <= last; slot++, t++) {
        event_t cmd = {.command_count = client != 0 ? 1u : 0u,
                       .client_ids = {client},
                       .sequences = {seq0 + slot - first}};
        if (client != 0) {
            EV(.time_ms = t, .node = b.node, .kind = EVENT_PROPOSED, .ballot = b,
               .slot_first = slot, .slot_last = slot, .command_count = 1,
               .client_ids = {cmd.client_ids[0]}, .sequences = {cmd.sequences[0]});
        }
        EV(.time_ms = t, .node = b.node, .kind = EVENT_ACCEPT_SENT, .ballot = b, .slot_first = slot,
           .slot_last = slot, .command_count = cmd.command_count, .client_ids = {cmd.client_ids[0]},
           .sequences = {cmd.sequences[0]});
        for (uint32_t a = 1; a <= NODES_MAX; a++) {
            if (acceptors & (1u << a)) {
                accepted(out, t, a, b, slot);
            }
        }
        chosen(out, t, b, slot);
        for (uint32_t a = 1; a <= NODES_MAX; a++) {
            if ((acceptors & (1u << a)) && a != b.node) {
                EV(.time_ms = t + 1, .node = a, .kind = EVENT_LEARNED, .ballot = b,
                   .slot_first = slot, .slot_last = slot);
            }
        }
    }
    return t;
}

/* Leader b heartbeats every 100 ms in [from, to): each follower grants a lease. */
static void heartbeats(scenario_events_t *out, ballot_t b, uint64_t from, uint64_t to,
                       uint32_t followers_mask)
{
    for (uint64_t t = from; t < to; t += 100) {
        for (uint32_t a = 1; a <= NODES_MAX; a++) {
            if (followers_mask & (1u << a)) {
                EV(.time_ms = t + 1, .node = a, .kind = EVENT_LEASE_GRANTED, .ballot = b,
                   .peer = b.node, .until_ms = t + 301);
            }
        }
    }
}

#define NODES_123 ((1u << 1) | (1u << 2) | (1u << 3))

/* First generation: n1 leads r1.n1 and fills slots 1-40. At t=900 it sends X, Z, W to
 * slots 41-43 and crashes at once: X reached n2 only, W reached n3 only, Z nobody. */
static void worked_generation1(scenario_events_t *out)
{
    const ballot_t r1 = B(1, 1);
    for (uint32_t n = 1; n <= 3; n++) {
        EV(.time_ms = 0, .node = n, .kind = EVENT_RECOVERED);
    }
    EV(.time_ms = 520, .node = 1, .kind = EVENT_ELECTION_TIMEOUT, .duration_ms = 520);
    self_prepare(out, 520, 1, r1, 1, 0, 0);
    promise(out, 521, 2, r1, 1, 0);
    promise(out, 521, 3, r1, 1, 0);
    promise_counted(out, 522, 2, r1, 1, 0, 0);
    EV(.time_ms = 522, .node = 1, .kind = EVENT_LEADER_ELECTED, .ballot = r1);
    promise_counted(out, 522, 3, r1, 1, 0, 0);
    steady(out, 523, r1, 1, 1, 0, 0, NODES_123);
    const uint32_t followers[] = {2, 3};
    heartbeat(out, 524, r1, followers, 2, true);
    heartbeats(out, r1, 600, 900, (1u << 2) | (1u << 3));
    steady(out, 700, r1, 2, 40, 3, 1, NODES_123);
    const uint64_t slot_clients[] = {1, 2, 3}; /* X = 5:1, Z = 5:2, W = 5:3 */
    for (uint64_t i = 0; i < 3; i++) {
        EV(.time_ms = 900, .node = 1, .kind = EVENT_PROPOSED, .ballot = r1, .slot_first = 41 + i,
           .slot_last = 41 + i, .command_count = 1, .client_ids = {5},
           .sequences = {slot_clients[i]});
        EV(.time_ms = 900, .node = 1, .kind = EVENT_ACCEPT_SENT, .ballot = r1, .slot_first = 41 + i,
           .slot_last = 41 + i, .command_count = 1, .client_ids = {5},
           .sequences = {slot_clients[i]});
    }
    accepted(out, 901, 2, r1, 41);
    accepted(out, 901, 3, r1, 43);
}

/* Second generation: n2 times out, prepares r2.n2 from slot 41 and hears of X (from itself)
 * and W (from n3): both are carried forward, the hole at 42 gets a no-op, Z is lost (it was
 * never chosen: only the crashed n1 had it). n1 restarts at t=2000 and follows. At t=2500
 * n2 hands leadership to n3. */
static void worked_generation2(scenario_events_t *out)
{
    const ballot_t r1 = B(1, 1);
    const ballot_t r2 = B(2, 2);
    EV(.time_ms = 1150, .node = 2, .kind = EVENT_ELECTION_TIMEOUT, .ballot = r1,
       .duration_ms = 350);
    self_prepare(out, 1150, 2, r2, 41, 1, 41);
    promise(out, 1151, 3, r2, 41, 1);
    promise_counted(out, 1152, 3, r2, 41, 1, 43);
    EV(.time_ms = 1152, .node = 2, .kind = EVENT_LEADER_ELECTED, .ballot = r2);
    EV(.time_ms = 1152, .node = 2, .kind = EVENT_CARRIED_FORWARD, .ballot = r2, .slot_first = 41,
       .slot_last = 41, .other_ballot = r1, .command_count = 1, .client_ids = {5},
       .sequences = {1});
    EV(.time_ms = 1152, .node = 2, .kind = EVENT_NOOP_FILLED, .ballot = r2, .slot_first = 42,
       .slot_last = 42);
    EV(.time_ms = 1152, .node = 2, .kind = EVENT_CARRIED_FORWARD, .ballot = r2, .slot_first = 43,
       .slot_last = 43, .other_ballot = r1, .command_count = 1, .client_ids = {5},
       .sequences = {3});
    steady(out, 1153, r2, 41, 44, 0, 0, (1u << 2) | (1u << 3));
    const uint32_t followers[] = {3};
    heartbeat(out, 1160, r2, followers, 1, true);
    heartbeats(out, r2, 1300, 2000, 1u << 3);
    steady(out, 1400, r2, 45, 70, 3, 40, (1u << 2) | (1u << 3));
    EV(.time_ms = 2000, .node = 1, .kind = EVENT_RECOVERED, .ballot = r1);
    heartbeats(out, r2, 2000, 2500, NODES_123 & ~(1u << 2));
    EV(.time_ms = 2002, .node = 1, .kind = EVENT_LEARNED, .ballot = r2, .slot_first = 41,
       .slot_last = 70);
    EV(.time_ms = 2500, .node = 2, .kind = EVENT_STEPPED_DOWN, .ballot = r2, .peer = 3,
       .reason = STEP_DOWN_TRANSFER);
}

/* Third generation: n3, handed over to, prepares r3.n3 and leads to the end. */
static void worked_generation3(scenario_events_t *out)
{
    const ballot_t r3 = B(3, 3);
    /* The Prepare names the ballot whose lease and liveness n2 waived in its hand-over. */
    EV(.time_ms = 2501, .node = 3, .kind = EVENT_PREPARE_SENT, .ballot = r3, .slot_first = 71,
       .other_ballot = B(2, 2));
    EV(.time_ms = 2501, .node = 3, .kind = EVENT_PREPARE_RECEIVED, .ballot = r3, .peer = 3,
       .slot_first = 71);
    EV(.time_ms = 2501, .node = 3, .kind = EVENT_PROMISE_SENT, .ballot = r3, .peer = 3,
       .slot_first = 71);
    EV(.time_ms = 2501, .node = 3, .kind = EVENT_PROMISE_RECEIVED, .ballot = r3, .peer = 3,
       .slot_first = 71);
    promise(out, 2502, 1, r3, 71, 0);
    promise(out, 2502, 2, r3, 71, 0);
    promise_counted(out, 2503, 1, r3, 71, 0, 0);
    EV(.time_ms = 2503, .node = 3, .kind = EVENT_LEADER_ELECTED, .ballot = r3);
    promise_counted(out, 2503, 2, r3, 71, 0, 0);
    steady(out, 2504, r3, 71, 71, 0, 0, NODES_123);
    const uint32_t followers[] = {1, 2};
    heartbeat(out, 2505, r3, followers, 2, true);
    steady(out, 2600, r3, 72, 90, 4, 1, NODES_123);
    heartbeats(out, r3, 2700, 2900, (1u << 1) | (1u << 2));
}

static void produce_worked_example(scenario_events_t *out)
{
    out->node_count = 3;
    worked_generation1(out);
    worked_generation2(out);
    worked_generation3(out);
}

const scenario_t scenarios[] = {
    {.name = "seed000_example", .produce = produce_seed000},
    {.name = "seed001_concurrent", .produce = produce_seed001},
    {.name = "worked_example", .produce = produce_worked_example},
};
const size_t scenario_count = sizeof scenarios / sizeof scenarios[0];
