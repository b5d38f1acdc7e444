#include "scenarios.h"

#include <string.h>

#define DB_COUNT        3u
#define SERVER_A        4u
#define SERVER_B        5u
#define LONG_TIMEOUT_MS 60000u

static void say(FILE *story, const char *text)
{
    if (story != NULL) {
        fprintf(story, "%s\n", text);
    }
}

static void set_timeout(harness_t *h, uint32_t id, uint32_t min_ms)
{
    h->nodes[id].cfg.election_timeout_min_ms = min_ms;
    h->nodes[id].cfg.election_timeout_max_ms = min_ms + 1;
}

static void cut_both(harness_t *h, uint32_t a, uint32_t b, bool cut)
{
    h->cut[a][b] = cut;
    h->cut[b][a] = cut;
}

static bool is_text(const value_t *v, const char *text)
{
    batch_iter_t it;
    command_t c;
    if (v->kind != VALUE_BATCH || batch_count(v) != 1) {
        return false;
    }
    batch_iter_init(&it, v);
    return batch_iter_next(&it, &c) && c.size == strlen(text) && memcmp(c.bytes, text, c.size) == 0;
}

/* The slot of the first in-flight Accept from `from` whose value is `text`, or 0. */
static uint64_t accept_slot_of(const harness_t *h, uint32_t from, const char *text)
{
    for (size_t i = 0; i < h->net_count; i++) {
        const msg_t *m = &h->net[i].msg;
        if (m->type == MSG_ACCEPT && m->from == from && is_text(&m->u.accept.value, text)) {
            return m->u.accept.slot;
        }
    }
    return 0;
}

static const msg_t *accept_for_slot(const harness_t *h, uint32_t from, uint64_t slot)
{
    for (size_t i = 0; i < h->net_count; i++) {
        const msg_t *m = &h->net[i].msg;
        if (m->type == MSG_ACCEPT && m->from == from && m->u.accept.slot == slot) {
            return m;
        }
    }
    return NULL;
}

static void deliver_each(harness_t *h, uint32_t from, msg_type_t type)
{
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        harness_deliver(h, from, db, type);
    }
}

static void deliver_to(harness_t *h, uint32_t to, msg_type_t type)
{
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        harness_deliver(h, db, to, type);
    }
}

/* A leader's commit notice: a heartbeat telling the followers the chosen prefix. */
static bool is_commit_notice(const msg_t *m, uint32_t from)
{
    return m->type == MSG_HEARTBEAT && m->from == from && m->u.heartbeat.commit > 0;
}

/* Delivers everything in flight, oldest first, except the commit notices of `from`, which
 * stay in the network. */
static void deliver_all_but_commit_notices(harness_t *h, uint32_t from)
{
    for (size_t i = 0; i < h->net_count;) {
        if (is_commit_notice(&h->net[i].msg, from)) {
            i++;
        } else {
            harness_deliver_at(h, i);
            i = 0;
        }
    }
}

static ballot_t last_prepare(const harness_t *h, uint32_t id)
{
    ballot_t b = BALLOT_NONE;
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->event_count; i++) {
        if (hn->events[i].kind == EVENT_PREPARE_SENT) {
            b = hn->events[i].ballot;
        }
    }
    return b;
}

/* DBs 1..3 are plain acceptors (their timers never fire); servers A (node 4) and B (node 5)
 * propose. A's and B's own acceptors never answer (their records never become durable) and A and B
 * do not talk to each other, so exactly the three DBs vote, as in the seed. A and B remember rounds
 * 4 and 7 from an earlier life, so their next ballots are the seed's 5 and 8. */
static void seed000_setup(harness_t *h, FILE *story)
{
    harness_init(h, 5, 0);
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        h->nodes[db].no_ticks = true; /* DBs only answer; they never campaign */
    }
    set_timeout(h, SERVER_A, 100);
    set_timeout(h, SERVER_B, 3000);
    h->nodes[SERVER_A].auto_persist = false;
    h->nodes[SERVER_B].auto_persist = false;
    cut_both(h, SERVER_A, SERVER_B, true);
    harness_preload(h, SERVER_A, PERSIST_PROMISE, (ballot_t){4, SERVER_A});
    harness_preload(h, SERVER_B, PERSIST_PROMISE, (ballot_t){7, SERVER_B});
    h->narrate = story;
    harness_start(h);
}

static void seed000_step1(harness_t *h, FILE *story, seed000_result_t *out)
{
    say(story, "\nStep 1: Server A (n4) starts with ballot r5 and asks DB1..DB3 (n1..n3).");
    harness_advance(h, 101);
    out->a_ballot = last_prepare(h, SERVER_A);
    say(story, "  The DBs have promised nothing yet; each promises r5.n4:");
    deliver_each(h, SERVER_A, MSG_PREPARE);
    say(story, "  A counts the promises; with a majority it leads r5.n4 and proposes:");
    deliver_to(h, SERVER_A, MSG_PROMISE);
    out->a_promises = (uint32_t)harness_events(h, SERVER_A, EVENT_PROMISE_RECEIVED);
    say(story, "  A client asks A to write X:");
    harness_submit(h, SERVER_A, 1, 1, "X");
    out->x_slot = accept_slot_of(h, SERVER_A, "X");
    say(story, "  All DBs accept and store (X, r5.n4); A sees X chosen and tells the DBs:");
    deliver_all_but_commit_notices(h, SERVER_A);
    const value_t *chosen = node_chosen_value(h->nodes[SERVER_A].node, out->x_slot);
    out->x_chosen = chosen != NULL && is_text(chosen, "X");
}

static void seed000_step2(harness_t *h, FILE *story, seed000_result_t *out)
{
    say(story, "\nStep 2: A goes quiet before that notice arrives: the DBs know X only as\n"
               "  accepted, as in the notes. Later Server B (n5) starts with ballot r8.");
    harness_crash(h, SERVER_A);
    harness_drop_all(h, SERVER_A, HARNESS_ANY, 0); /* lost with A */
    harness_advance(h, 3000);
    out->b_ballot = last_prepare(h, SERVER_B);
    say(story, "  Each DB compares r8 with its promise r5, promises r8 and reports (X, r5):");
    deliver_each(h, SERVER_B, MSG_PREPARE);
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        const msg_t *p = harness_peek(h, db, SERVER_B, MSG_PROMISE);
        for (uint32_t i = 0; p != NULL && i < p->u.promise.entry_count; i++) {
            const msg_entry_t *e = &p->u.promise.entries[i];
            out->b_reports_of_x += e->slot == out->x_slot && is_text(&e->value, "X") &&
                                   ballot_equal(e->ballot, out->a_ballot);
        }
    }
    say(story, "  B must carry the accepted X forward at its slot, not write its own Y:");
    deliver_to(h, SERVER_B, MSG_PROMISE);
    const msg_t *a = accept_for_slot(h, SERVER_B, out->x_slot);
    out->b_wrote_x = a != NULL && is_text(&a->u.accept.value, "X");
    out->b_wrote_y_there = a != NULL && is_text(&a->u.accept.value, "Y");
    say(story, "  B's client value Y goes to a fresh slot:");
    harness_submit(h, SERVER_B, 2, 1, "Y");
    out->y_slot = accept_slot_of(h, SERVER_B, "Y");
    say(story, "  The DBs accept (X, r8.n5) and B's other proposals:");
    harness_deliver_all(h);
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        ballot_t b;
        const value_t *v;
        if (node_accepted(h->nodes[db].node, out->x_slot, &b, &v) && is_text(v, "X") &&
            ballot_equal(b, out->b_ballot)) {
            out->dbs_hold_x_at_b++;
        }
    }
}

static void seed000_step3(harness_t *h, FILE *story, seed000_result_t *out)
{
    say(story, "\nStep 3: A comes back remembering only round 4 and tries r5 again.");
    harness_restart(h, SERVER_A, false);
    harness_advance(h, 101);
    out->a_retry_ballot = last_prepare(h, SERVER_A);
    say(story, "  Every DB has promised r8.n5, so each rejects and names r8.n5:");
    deliver_each(h, SERVER_A, MSG_PREPARE);
    for (uint32_t db = 1; db <= DB_COUNT; db++) {
        const msg_t *r = harness_peek(h, db, SERVER_A, MSG_REJECT);
        if (r != NULL) {
            out->a_rejects++;
            out->a_rejected_by = r->u.reject.promised;
        }
    }
    say(story, "  A cannot proceed: it is too old. It learns r8.n5 and backs off.");
    h->narrate = NULL;
    deliver_to(h, SERVER_A, MSG_REJECT);
    /* A's next attempt, after its backoff, is above what it learned. */
    for (int i = 0; i < 100 && ballot_equal(last_prepare(h, SERVER_A), out->a_retry_ballot); i++) {
        harness_advance(h, 20);
    }
    out->a_next_ballot = last_prepare(h, SERVER_A);
    if (story != NULL) {
        char b[BALLOT_TEXT_BYTES];
        fprintf(story, "  A's next attempt, after its backoff, is Prepare(%s).\n",
                ballot_format(out->a_next_ballot, b, sizeof(b)));
    }
    harness_drop_all(h, HARNESS_ANY, HARNESS_ANY, 0);
}

void scenario_seed000(FILE *story, seed000_result_t *out)
{
    memset(out, 0, sizeof(*out));
    harness_t h;
    seed000_setup(&h, story);
    seed000_step1(&h, story, out);
    seed000_step2(&h, story, out);
    seed000_step3(&h, story, out);
    char why[128];
    out->agreement = harness_check_agreement(&h, why, sizeof(why));
    harness_free(&h);
}

/* Seed 001 ------------------------------------------------------------------------------ */

#define DUEL_CLIENTS     2u
#define DUEL_STEP_MS     10u
#define DUEL_LIMIT_MS    10000u
#define DUEL_RESUBMIT_MS 200u

static bool promise_for(const harness_t *h, uint32_t from, uint32_t to, ballot_t b)
{
    const msg_t *p = harness_peek(h, from, to, MSG_PROMISE);
    return p != NULL && ballot_equal(p->u.promise.ballot, b);
}

static uint32_t promises_counted(const harness_t *h, uint32_t id, ballot_t b)
{
    uint32_t n = 0;
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->event_count; i++) {
        n += hn->events[i].kind == EVENT_PROMISE_RECEIVED && ballot_equal(hn->events[i].ballot, b);
    }
    return n;
}

static void seed001_first_round(harness_t *h, FILE *story, seed001_result_t *out)
{
    say(story, "\nNodes 1 and 2 both suspect there is no leader, moments apart:");
    harness_advance(h, 101);
    out->b1 = last_prepare(h, 1);
    harness_advance(h, 10);
    out->b2 = last_prepare(h, 2);
    say(story, "  Node 3 receives Prepare(b1) first and promises b1:");
    harness_deliver(h, 1, 3, MSG_PREPARE);
    out->n3_promised_b1 = promise_for(h, 3, 1, out->b1);
    say(story, "  then Prepare(b2); b2 is higher, so it promises b2 as well:");
    harness_deliver(h, 2, 3, MSG_PREPARE);
    out->n3_promised_b2 = promise_for(h, 3, 2, out->b2);
    say(story, "  Node 1 counts node 3's promise for b1, node 2 counts it for b2:");
    harness_deliver(h, 3, 1, MSG_PROMISE);
    harness_deliver(h, 3, 2, MSG_PROMISE);
    out->n1_counted = promises_counted(h, 1, out->b1);
    out->n2_counted = promises_counted(h, 2, out->b2);
    out->leader_after_first_round = harness_leader_count(h) > 0;
    say(story, "  One promise each is not a majority of 3: neither may proceed.");
    say(story, "  Their rounds time out; each waits a random, growing backoff and retries:");
    h->narrate = NULL;
    harness_advance(h, 310);
    out->both_backed_off =
        harness_events(h, 1, EVENT_BACKOFF) > 0 && harness_events(h, 2, EVENT_BACKOFF) > 0;
}

/* Clients 1 and 2 write v1 through node 1 and v2 through node 2, retrying until applied;
 * returns when both are applied everywhere. */
static void seed001_retries(harness_t *h, seed001_result_t *out)
{
    const char *values[DUEL_CLIENTS + 1] = {NULL, "v1", "v2"};
    uint64_t submitted_ms[DUEL_CLIENTS + 1] = {0, 0, 0};
    uint64_t start = h->now_ms;
    for (uint64_t t = 0; t < DUEL_LIMIT_MS; t += DUEL_STEP_MS) {
        bool done = true;
        for (uint32_t c = 1; c <= DUEL_CLIENTS; c++) {
            bool everywhere = true;
            for (uint32_t id = 1; id <= h->n; id++) {
                everywhere = everywhere && harness_applied_command(h, id, c, 1);
            }
            done = done && everywhere;
            if (!harness_applied_command(h, c, c, 1) &&
                (submitted_ms[c] == 0 || h->now_ms >= submitted_ms[c] + DUEL_RESUBMIT_MS)) {
                harness_submit(h, c, c, 1, values[c]);
                submitted_ms[c] = h->now_ms;
            }
        }
        if (out->leader == 0 && harness_leader(h) != 0) {
            uint32_t leader = harness_leader(h);
            if (harness_applied_command(h, leader, leader <= DUEL_CLIENTS ? leader : 1, 1)) {
                out->leader = leader;
                out->settle_ms = h->now_ms - start;
            }
        }
        if (done) {
            out->values_chosen = true;
            return;
        }
        harness_run_random(h, DUEL_STEP_MS);
    }
}

void scenario_seed001(uint64_t seed, FILE *story, seed001_result_t *out)
{
    memset(out, 0, sizeof(*out));
    harness_t h;
    harness_init(&h, 3, seed);
    set_timeout(&h, 1, 100);
    set_timeout(&h, 2, 110);
    set_timeout(&h, 3, LONG_TIMEOUT_MS);
    h.nodes[1].auto_persist = false;
    h.nodes[2].auto_persist = false;
    cut_both(&h, 1, 2, true);
    h.narrate = story;
    harness_start(&h);
    seed001_first_round(&h, story, out);
    /* From here on the network is whole (random delays) and disks keep up. */
    cut_both(&h, 1, 2, false);
    h.latency_max_ms = 10;
    for (uint32_t id = 1; id <= 2; id++) {
        h.nodes[id].auto_persist = true;
        harness_persist(&h, id);
    }
    seed001_retries(&h, out);
    out->rounds = last_prepare(&h, 1).round;
    if (last_prepare(&h, 2).round > out->rounds) {
        out->rounds = last_prepare(&h, 2).round;
    }
    uint32_t leader = harness_leader(&h);
    out->leader = leader != 0 ? leader : out->leader;
    char why[128];
    out->agreement = harness_check_agreement(&h, why, sizeof(why));
    if (story != NULL) {
        char b[BALLOT_TEXT_BYTES];
        node_status_t st;
        node_get_status(h.nodes[out->leader ? out->leader : 1].node, h.now_ms, &st);
        fprintf(story,
                "  After the retries node %u leads %s (highest round tried: %llu); v1 and v2\n"
                "  are each chosen in one slot and every node applies the same log.\n",
                out->leader, ballot_format(st.leader_ballot, b, sizeof(b)),
                (unsigned long long)out->rounds);
    }
    harness_free(&h);
}
