/* Acceptor rules (docs/design.md steps 1 and 3), each with its negative. */
#include "test_util.h"

/* Node 2 is the acceptor under test; nodes 1 and 3 are the proposers talking to it. */
#define ACC 2u

static void setup_acceptor(harness_t *h)
{
    quiet_harness(h, 3);
}

static void test_prepare_above_promise_is_promised_after_persist(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    h.nodes[ACC].auto_persist = false;
    msg_t p = make_prepare(1, ACC, B(3, 1), 1);
    assert_int_equal(recv_msg(&h, &p), BALLOT_OK);
    /* The PROMISE record is written, but the Promise waits for it to be durable. */
    assert_int_equal(count_records(&h, ACC, PERSIST_PROMISE), 1);
    assert_null(harness_peek(&h, ACC, 1, MSG_PROMISE));
    node_tick(h.nodes[ACC].node, h.now_ms + 10);
    harness_collect(&h, ACC);
    assert_null(harness_peek(&h, ACC, 1, MSG_PROMISE));
    harness_persist(&h, ACC);
    const msg_t *promise = harness_peek(&h, ACC, 1, MSG_PROMISE);
    assert_non_null(promise);
    assert_true(ballot_equal(promise->u.promise.ballot, B(3, 1)));
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(3, 1)));
    harness_free(&h);
}

static void test_prepare_below_promise_is_rejected_with_the_winner(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &p);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t low = make_prepare(1, ACC, B(5, 1), 1);
    recv_msg(&h, &low);
    const msg_t *r = harness_peek(&h, ACC, 1, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.reason, REJECT_PROMISED);
    assert_true(ballot_equal(r->u.reject.ballot, B(5, 1)));
    assert_true(ballot_equal(r->u.reject.promised, B(8, 3)));
    assert_null(harness_peek(&h, ACC, 1, MSG_PROMISE));
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(8, 3)));
    assert_int_equal(count_records(&h, ACC, PERSIST_PROMISE), 1);
    harness_free(&h);
}

static void test_prepare_equal_to_promise_is_promised_again(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(1, ACC, B(4, 1), 1);
    recv_msg(&h, &p);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t again = make_prepare(1, ACC, B(4, 1), 1);
    recv_msg(&h, &again);
    assert_non_null(harness_peek(&h, ACC, 1, MSG_PROMISE));
    assert_int_equal(count_records(&h, ACC, PERSIST_PROMISE), 1);
    harness_free(&h);
}

/* Safety rule: never accept below the promise. */
static void test_never_accept_below_promise(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &p);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t a = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    assert_int_equal(recv_msg(&h, &a), BALLOT_OK);
    assert_false(node_accepted(h.nodes[ACC].node, 1, NULL, NULL));
    assert_int_equal(count_records(&h, ACC, PERSIST_ACCEPT), 0);
    assert_null(harness_peek(&h, ACC, 1, MSG_ACCEPTED));
    const msg_t *r = harness_peek(&h, ACC, 1, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.rejected_type, MSG_ACCEPT);
    assert_true(ballot_equal(r->u.reject.promised, B(8, 3)));
    assert_int_equal(r->u.reject.slot, 1);
    harness_free(&h);
}

/* Safety rule: persist before reply (Accepted after the ACCEPT record is durable). */
static void test_accept_at_or_above_promise_replies_after_persist(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    h.nodes[ACC].auto_persist = false;
    msg_t a = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &a);
    ballot_t b;
    const value_t *v;
    assert_true(node_accepted(h.nodes[ACC].node, 1, &b, &v));
    assert_true(ballot_equal(b, B(5, 1)));
    assert_true(value_is_text(v, "X"));
    assert_int_equal(count_records(&h, ACC, PERSIST_ACCEPT), 1);
    assert_null(harness_peek(&h, ACC, 1, MSG_ACCEPTED));
    harness_persist(&h, ACC);
    const msg_t *ok = harness_peek(&h, ACC, 1, MSG_ACCEPTED);
    assert_non_null(ok);
    assert_int_equal(ok->u.accepted.slot, 1);
    /* The accept raised the promise (in memory; the ACCEPT record implies it). */
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(5, 1)));
    harness_free(&h);
}

static void test_promise_reports_accepted_entries_from_slot(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t a1 = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    msg_t a2 = make_accept(1, ACC, B(5, 1), 2, "Y", 0);
    msg_t a3 = make_accept(1, ACC, B(5, 1), 4, "Z", 0);
    recv_msg(&h, &a1);
    recv_msg(&h, &a2);
    recv_msg(&h, &a3);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.now_ms += 1000; /* leader 1 has gone quiet */
    msg_t p = make_prepare(3, ACC, B(8, 3), 2);
    recv_msg(&h, &p);
    const msg_t *pr = harness_peek(&h, ACC, 3, MSG_PROMISE);
    assert_non_null(pr);
    assert_int_equal(pr->u.promise.entry_count, 2);
    assert_int_equal(pr->u.promise.entries[0].slot, 2);
    assert_true(value_is_text(&pr->u.promise.entries[0].value, "Y"));
    assert_true(ballot_equal(pr->u.promise.entries[0].ballot, B(5, 1)));
    assert_int_equal(pr->u.promise.entries[1].slot, 4);
    assert_int_equal(pr->u.promise.next_slot, 0);
    harness_free(&h);
}

/* Bound: a Promise carries at most MSG_ENTRIES_MAX entries; the rest follows in parts. */
static void test_promise_parts_are_bounded(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    uint64_t total = MSG_ENTRIES_MAX + 10;
    for (uint64_t slot = 1; slot <= total; slot++) {
        msg_t a = make_accept(1, ACC, B(5, 1), slot, NULL, 0);
        recv_msg(&h, &a);
    }
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.now_ms += 1000; /* leader 1 has gone quiet */
    msg_t p = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &p);
    const msg_t *pr = harness_peek(&h, ACC, 3, MSG_PROMISE);
    assert_non_null(pr);
    assert_int_equal(pr->u.promise.entry_count, MSG_ENTRIES_MAX);
    assert_int_equal(pr->u.promise.next_slot, MSG_ENTRIES_MAX + 1);
    assert_true(msg_validate(pr));
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t rest = make_prepare(3, ACC, B(8, 3), MSG_ENTRIES_MAX + 1);
    recv_msg(&h, &rest);
    pr = harness_peek(&h, ACC, 3, MSG_PROMISE);
    assert_non_null(pr);
    assert_int_equal(pr->u.promise.entry_count, 10);
    assert_int_equal(pr->u.promise.next_slot, 0);
    harness_free(&h);
}

/* Safety rule: the promise never decreases, also across a restart. */
static void test_promise_survives_restart(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &p);
    msg_t a = make_accept(1, ACC, B(9, 1), 1, "X", 0);
    recv_msg(&h, &a);
    harness_crash(&h, ACC);
    harness_restart(&h, ACC, false);
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(9, 1)));
    h.now_ms += h.nodes[ACC].cfg.lease_ms + 1;
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t low = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &low);
    assert_non_null(harness_peek(&h, ACC, 3, MSG_REJECT));
    assert_null(harness_peek(&h, ACC, 3, MSG_PROMISE));
    msg_t low_accept = make_accept(3, ACC, B(8, 3), 2, "Y", 0);
    recv_msg(&h, &low_accept);
    assert_false(node_accepted(h.nodes[ACC].node, 2, NULL, NULL));
    ballot_t b;
    assert_true(node_accepted(h.nodes[ACC].node, 1, &b, NULL));
    assert_true(ballot_equal(b, B(9, 1)));
    harness_free(&h);
}

/* Whatever order a store hands the records back in, the recovered promise is the highest
 * one written. */
static void test_recovered_promise_is_the_highest_record(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 1);
    harness_preload(&h, ACC, PERSIST_PROMISE, B(9, 3));
    harness_preload(&h, ACC, PERSIST_PROMISE, B(5, 1));
    harness_start(&h);
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(9, 3)));
    harness_free(&h);
}

/* A restarted acceptor may have granted a lease it forgot: it promises nobody for
 * lease_ms (Chubby §2.9). */
static void test_restart_refuses_promises_for_lease_ms(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(1, ACC, B(2, 1), 1);
    recv_msg(&h, &p);
    harness_crash(&h, ACC);
    harness_restart(&h, ACC, false);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t early = make_prepare(3, ACC, B(5, 3), 1);
    recv_msg(&h, &early);
    const msg_t *r = harness_peek(&h, ACC, 3, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.reason, REJECT_RECOVERING);
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(2, 1)));
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.now_ms += h.nodes[ACC].cfg.lease_ms;
    msg_t later = make_prepare(3, ACC, B(5, 3), 1);
    recv_msg(&h, &later);
    assert_non_null(harness_peek(&h, ACC, 3, MSG_PROMISE));
    harness_free(&h);
}

/* Leases: an acceptor that answered a heartbeat promises no other ballot for lease_ms. */
static void test_refuse_to_promise_while_lease_runs(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t hb = make_heartbeat(1, ACC, B(3, 1), 0, 1);
    recv_msg(&h, &hb);
    assert_non_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    assert_non_null(last_event(&h, ACC, EVENT_LEASE_GRANTED));
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.now_ms += h.nodes[ACC].cfg.lease_ms - 1;
    msg_t p = make_prepare(3, ACC, B(9, 3), 1);
    recv_msg(&h, &p);
    const msg_t *r = harness_peek(&h, ACC, 3, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.reason, REJECT_LEASE);
    assert_true(ballot_equal(status_of(&h, ACC).promised, B(3, 1)));
    assert_non_null(last_event(&h, ACC, EVENT_LEASE_REFUSED));
    harness_free(&h);
}

/* A node that heard a live leader within the election timeout refuses a challenger. */
static void test_refuse_to_promise_while_leader_alive(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t a = make_accept(1, ACC, B(3, 1), 1, "X", 0);
    recv_msg(&h, &a);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.now_ms += h.nodes[ACC].cfg.election_timeout_min_ms - 1;
    msg_t p = make_prepare(3, ACC, B(9, 3), 1);
    recv_msg(&h, &p);
    const msg_t *r = harness_peek(&h, ACC, 3, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.reason, REJECT_LEADER_ALIVE);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    /* Once the leader has been silent for the election timeout, the challenger wins. */
    h.now_ms += 1;
    msg_t again = make_prepare(3, ACC, B(9, 3), 1);
    recv_msg(&h, &again);
    assert_non_null(harness_peek(&h, ACC, 3, MSG_PROMISE));
    harness_free(&h);
}

/* A leader that hands over names its ballot; acceptors set its lease aside. */
static void test_waived_ballot_sets_lease_aside(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t hb = make_heartbeat(1, ACC, B(3, 1), 0, 1);
    recv_msg(&h, &hb);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t p = make_prepare(3, ACC, B(4, 3), 1);
    p.u.prepare.waived_ballot = B(3, 1);
    recv_msg(&h, &p);
    assert_non_null(harness_peek(&h, ACC, 3, MSG_PROMISE));
    /* A waiver naming another ballot does not. */
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t hb2 = make_heartbeat(3, ACC, B(4, 3), 0, 1);
    recv_msg(&h, &hb2);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t q = make_prepare(1, ACC, B(6, 1), 1);
    q.u.prepare.waived_ballot = B(3, 1);
    recv_msg(&h, &q);
    assert_non_null(harness_peek(&h, ACC, 1, MSG_REJECT));
    harness_free(&h);
}

static void test_heartbeat_below_promise_is_rejected(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(3, ACC, B(8, 3), 1);
    recv_msg(&h, &p);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t hb = make_heartbeat(1, ACC, B(5, 1), 0, 1);
    recv_msg(&h, &hb);
    const msg_t *r = harness_peek(&h, ACC, 1, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.rejected_type, MSG_HEARTBEAT);
    assert_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    assert_null(last_event(&h, ACC, EVENT_LEASE_GRANTED));
    harness_free(&h);
}

/* A heartbeat above the promise raises it durably before the ack leaves. */
static void test_heartbeat_above_promise_persists_before_ack(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    h.nodes[ACC].auto_persist = false;
    msg_t hb = make_heartbeat(1, ACC, B(5, 1), 0, 1);
    recv_msg(&h, &hb);
    assert_int_equal(count_records(&h, ACC, PERSIST_PROMISE), 1);
    assert_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    harness_persist(&h, ACC);
    assert_non_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    harness_free(&h);
}

/* The seq of the newest record node id wrote that is not durable yet (0: none). */
static uint64_t newest_pending_seq(const harness_t *h, uint32_t id)
{
    const harness_node_t *hn = &h->nodes[id];
    return hn->pending_count == 0 ? 0 : hn->pending[hn->pending_count - 1].seq;
}

static bool pending_kind(const harness_t *h, uint32_t id, persist_kind_t kind)
{
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->pending_count; i++) {
        if (hn->pending[i].kind == kind) {
            return true;
        }
    }
    return false;
}

/* A heartbeat ack waits only for the promise it stands for: a pending CHOSEN record
 * (written lazily, nothing depends on it) does not hold it back. */
static void test_heartbeat_ack_is_not_held_by_a_chosen_record(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t a = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &a); /* durable at once */
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.nodes[ACC].auto_persist = false;
    msg_t hb = make_heartbeat(1, ACC, B(5, 1), 1, 1);
    recv_msg(&h, &hb);
    assert_non_null(node_chosen_value(h.nodes[ACC].node, 1));
    assert_true(pending_kind(&h, ACC, PERSIST_CHOSEN));
    assert_false(pending_kind(&h, ACC, PERSIST_PROMISE));
    assert_non_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    /* The next heartbeat comes while that CHOSEN record is still on its way to disk. */
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t next = make_heartbeat(1, ACC, B(5, 1), 1, 2);
    recv_msg(&h, &next);
    assert_true(pending_kind(&h, ACC, PERSIST_CHOSEN));
    const msg_t *ack = harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK);
    assert_non_null(ack);
    assert_int_equal(ack->u.heartbeat_ack.heartbeat_id, 2);
    harness_free(&h);
}

/* The promise a heartbeat confirms may itself still be on its way to disk (raised by an
 * Accept whose ACCEPT record is pending): the ack waits for that record, not for later
 * ones. */
static void test_heartbeat_ack_waits_for_the_record_of_its_promise(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    h.nodes[ACC].auto_persist = false;
    msg_t a = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &a);
    uint64_t accept_seq = newest_pending_seq(&h, ACC);
    assert_true(accept_seq > 0);
    msg_t hb = make_heartbeat(1, ACC, B(5, 1), 1, 1);
    recv_msg(&h, &hb);
    assert_true(newest_pending_seq(&h, ACC) > accept_seq); /* the CHOSEN record */
    assert_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    assert_null(harness_peek(&h, ACC, 1, MSG_ACCEPTED));
    harness_persist_upto(&h, ACC, accept_seq);
    assert_true(pending_kind(&h, ACC, PERSIST_CHOSEN));
    assert_non_null(harness_peek(&h, ACC, 1, MSG_HEARTBEAT_ACK));
    assert_non_null(harness_peek(&h, ACC, 1, MSG_ACCEPTED));
    harness_free(&h);
}

/* Each Accepted waits for its own slot's ACCEPT record: slot 1's leaves once that record
 * is durable, while slot 2's still waits; a resent Accept of a durable slot is answered
 * at once. */
static void test_accepted_waits_for_its_own_record(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    h.nodes[ACC].auto_persist = false;
    msg_t a1 = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &a1);
    uint64_t first = newest_pending_seq(&h, ACC);
    msg_t a2 = make_accept(1, ACC, B(5, 1), 2, "Y", 0);
    recv_msg(&h, &a2);
    assert_null(harness_peek(&h, ACC, 1, MSG_ACCEPTED));
    harness_persist_upto(&h, ACC, first);
    const msg_t *ok = harness_peek(&h, ACC, 1, MSG_ACCEPTED);
    assert_non_null(ok);
    assert_int_equal(ok->u.accepted.slot, 1);
    assert_int_equal(harness_count(&h, ACC, 1, MSG_ACCEPTED), 1);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t again = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &again);
    ok = harness_peek(&h, ACC, 1, MSG_ACCEPTED);
    assert_non_null(ok);
    assert_int_equal(ok->u.accepted.slot, 1);
    /* Slot 2 still waits; a resent Accept for it waits too. */
    msg_t again2 = make_accept(1, ACC, B(5, 1), 2, "Y", 0);
    recv_msg(&h, &again2);
    assert_int_equal(harness_count(&h, ACC, 1, MSG_ACCEPTED), 1);
    harness_persist(&h, ACC);
    assert_int_equal(harness_count(&h, ACC, 1, MSG_ACCEPTED), 3);
    harness_free(&h);
}

/* A Promise repeated for the ballot already promised still waits for the records of the
 * entries it reports. */
static void test_repeated_promise_waits_for_the_accepts_it_reports(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t p = make_prepare(1, ACC, B(4, 1), 1);
    recv_msg(&h, &p); /* PROMISE durable at once */
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    h.nodes[ACC].auto_persist = false;
    msg_t a = make_accept(1, ACC, B(4, 1), 1, "X", 0);
    recv_msg(&h, &a);
    msg_t again = make_prepare(1, ACC, B(4, 1), 1);
    recv_msg(&h, &again);
    assert_null(harness_peek(&h, ACC, 1, MSG_PROMISE));
    harness_persist(&h, ACC);
    const msg_t *promise = harness_peek(&h, ACC, 1, MSG_PROMISE);
    assert_non_null(promise);
    assert_int_equal(promise->u.promise.entry_count, 1);
    harness_free(&h);
}

/* A slot known chosen never takes a different value from a stale proposal. */
static void test_chosen_slot_ignores_a_stale_different_value(void **state)
{
    (void)state;
    harness_t h;
    setup_acceptor(&h);
    msg_t a = make_accept(1, ACC, B(5, 1), 1, "X", 0);
    recv_msg(&h, &a);
    msg_t hb = make_heartbeat(1, ACC, B(5, 1), 1, 1);
    recv_msg(&h, &hb);
    assert_non_null(node_chosen_value(h.nodes[ACC].node, 1));
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    msg_t stale = make_accept(1, ACC, B(5, 1), 1, "W", 1);
    recv_msg(&h, &stale);
    const value_t *v = node_chosen_value(h.nodes[ACC].node, 1);
    assert_true(value_is_text(v, "X"));
    const value_t *accepted;
    assert_true(node_accepted(h.nodes[ACC].node, 1, NULL, &accepted));
    assert_true(value_is_text(accepted, "X"));
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_above_promise_is_promised_after_persist),
        cmocka_unit_test(test_prepare_below_promise_is_rejected_with_the_winner),
        cmocka_unit_test(test_prepare_equal_to_promise_is_promised_again),
        cmocka_unit_test(test_never_accept_below_promise),
        cmocka_unit_test(test_accept_at_or_above_promise_replies_after_persist),
        cmocka_unit_test(test_promise_reports_accepted_entries_from_slot),
        cmocka_unit_test(test_promise_parts_are_bounded),
        cmocka_unit_test(test_promise_survives_restart),
        cmocka_unit_test(test_recovered_promise_is_the_highest_record),
        cmocka_unit_test(test_restart_refuses_promises_for_lease_ms),
        cmocka_unit_test(test_refuse_to_promise_while_lease_runs),
        cmocka_unit_test(test_refuse_to_promise_while_leader_alive),
        cmocka_unit_test(test_waived_ballot_sets_lease_aside),
        cmocka_unit_test(test_heartbeat_below_promise_is_rejected),
        cmocka_unit_test(test_heartbeat_above_promise_persists_before_ack),
        cmocka_unit_test(test_heartbeat_ack_is_not_held_by_a_chosen_record),
        cmocka_unit_test(test_heartbeat_ack_waits_for_the_record_of_its_promise),
        cmocka_unit_test(test_accepted_waits_for_its_own_record),
        cmocka_unit_test(test_repeated_promise_waits_for_the_accepts_it_reports),
        cmocka_unit_test(test_chosen_slot_ignores_a_stale_different_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
