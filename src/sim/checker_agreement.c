/* Agreement, validity and prefix consistency (checker.h). */
#include "core/check.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

void checker_init(checker_t *ch, const membership_t *founding)
{
    memset(ch, 0, sizeof(*ch));
    for (uint32_t i = 0; i <= NODES_MAX; i++) {
        ch->next_apply[i] = 1;
    }
    config_state_init(&ch->cs, founding);
    ch->configs[0].from = 1;
    ch->configs[0].membership = *founding;
    ch->config_count = 1;
}

/* A CONFIG value chosen in a slot of the prefix can only govern slots above the prefix
 * (from its slot + CONFIG_ALPHA), so every slot up to prefix + CONFIG_ALPHA is settled. */
const membership_t *checker_config_for_slot(const checker_t *ch, uint64_t slot)
{
    if (slot == 0 || slot > ch->prefix + CONFIG_ALPHA) {
        return NULL;
    }
    uint32_t i = ch->config_count - 1;
    while (i > 0 && ch->configs[i].from > slot) {
        i--;
    }
    return &ch->configs[i].membership;
}

const membership_t *checker_config_latest(const checker_t *ch)
{
    return &ch->configs[ch->config_count - 1].membership;
}

const membership_t *checker_config_now(const checker_t *ch)
{
    return config_state_for_slot(&ch->cs, ch->prefix + 1);
}

static uint32_t popcount32(uint32_t x)
{
    return (uint32_t)__builtin_popcount(x);
}

/* Whether the nodes in `acceptors` include a majority of m's voters. */
static bool majority_of(const membership_t *m, uint32_t acceptors)
{
    uint32_t voters = membership_voter_mask(m);
    return popcount32(acceptors & voters) >= popcount32(voters) / 2 + 1;
}

void checker_on_adopted(sim_t *sim, uint32_t node, const persist_record_t *record)
{
    adopted_seqs_t *a = &sim->checker.adopted[node];
    assert(a->count == 0 || a->seqs[a->count - 1] < record->seq);
    if (a->count == a->capacity) {
        size_t capacity = a->capacity == 0 ? 256 : a->capacity * 2;
        uint64_t *seqs = NULL;
        if (capacity <= CHECKER_ADOPTED_MAX) {
            seqs = realloc(a->seqs, capacity * sizeof(*seqs));
        }
        if (seqs == NULL) {
            sim_fail(sim, "simulator", "too many adopted entries to track");
            return;
        }
        a->seqs = seqs;
        a->capacity = capacity;
    }
    a->seqs[a->count++] = record->seq;
}

static bool checker_is_adopted(const checker_t *ch, uint32_t node, uint64_t seq)
{
    const adopted_seqs_t *a = &ch->adopted[node];
    size_t lo = 0, hi = a->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->seqs[mid] < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < a->count && a->seqs[lo] == seq;
}

void checker_on_restart(checker_t *ch, uint32_t node)
{
    ch->adopted[node].count = 0;
}

void checker_forget_adopted(checker_t *ch, uint32_t node)
{
    for (size_t s = 0; s < ch->slot_capacity; s++) {
        for (uint32_t i = 0; i < ch->slots[s].count; i++) {
            ch->slots[s].votes[i].adopters &= ~(1u << node);
        }
    }
}

void checker_destroy(checker_t *ch)
{
    for (uint32_t i = 0; i <= NODES_MAX; i++) {
        free(ch->adopted[i].seqs);
    }
    for (size_t s = 0; s < ch->slot_capacity; s++) {
        slot_votes_t *sv = &ch->slots[s];
        for (uint32_t i = 0; i < sv->count; i++) {
            value_free(&sv->votes[i].value);
        }
        free(sv->votes);
    }
    free(ch->slots);
    memset(ch, 0, sizeof(*ch));
}

static slot_votes_t *checker_slot(sim_t *sim, uint64_t slot)
{
    checker_t *ch = &sim->checker;
    if (slot >= CHECKER_SLOTS_MAX) {
        sim_fail(sim, "simulator", "slot %" PRIu64 " beyond the observer's bound", slot);
        return NULL;
    }
    if (slot >= ch->slot_capacity) {
        size_t capacity = ch->slot_capacity == 0 ? 1024 : ch->slot_capacity;
        while (capacity <= slot) {
            capacity *= 2;
        }
        slot_votes_t *slots = realloc(ch->slots, capacity * sizeof(*slots));
        if (slots == NULL) {
            sim_fail(sim, "simulator", "out of memory in the observer");
            return NULL;
        }
        for (size_t s = ch->slot_capacity; s < capacity; s++) {
            slots[s] = (slot_votes_t){.votes = NULL, .count = 0, .capacity = 0, .chosen = -1};
        }
        ch->slots = slots;
        ch->slot_capacity = capacity;
    }
    return &ch->slots[slot];
}

const value_t *checker_chosen(const checker_t *ch, uint64_t slot)
{
    if (slot >= ch->slot_capacity || ch->slots[slot].chosen < 0) {
        return NULL;
    }
    return &ch->slots[slot].votes[ch->slots[slot].chosen].value;
}

static void describe_value(const value_t *v, char *buf, size_t buf_bytes)
{
    if (v->kind == VALUE_NOOP) {
        snprintf(buf, buf_bytes, "no-op");
        return;
    }
    if (v->kind == VALUE_CONFIG) {
        membership_t m;
        if (membership_decode(&m, v->bytes, v->size)) {
            snprintf(buf, buf_bytes, "config[epoch %" PRIu64 ", voters 0x%x, members 0x%x]",
                     m.epoch, membership_voter_mask(&m), membership_member_mask(&m));
        } else {
            snprintf(buf, buf_bytes, "config[malformed]");
        }
        return;
    }
    batch_iter_t it;
    command_t cmd;
    size_t used = 0;
    int n = snprintf(buf, buf_bytes, "batch[");
    used = n > 0 ? (size_t)n : 0;
    batch_iter_init(&it, v);
    for (unsigned i = 0; i < 4 && used < buf_bytes && batch_iter_next(&it, &cmd); i++) {
        n = snprintf(buf + used, buf_bytes - used, "%s%" PRIu64 ":%" PRIu64, i ? "," : "",
                     cmd.client_id, cmd.sequence);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < buf_bytes) {
        snprintf(buf + used, buf_bytes - used, "]");
    }
}

/* Validity: a no-op, a well-formed batch of commands that clients submitted, or a
 * membership the simulator proposed (byte for byte). */
static void checker_validity(sim_t *sim, uint64_t slot, const value_t *v)
{
    if (v->kind == VALUE_NOOP) {
        return;
    }
    if (v->kind == VALUE_CONFIG) {
        if (!membership_proposed(sim, v)) {
            sim_fail(sim, "validity",
                     "slot %" PRIu64 " chose a membership the simulator never proposed", slot);
        }
        return;
    }
    if (v->kind != VALUE_BATCH || !batch_validate(v->bytes, v->size)) {
        sim_fail(sim, "validity", "slot %" PRIu64 " chose a malformed value", slot);
        return;
    }
    batch_iter_t it;
    command_t cmd;
    batch_iter_init(&it, v);
    while (batch_iter_next(&it, &cmd)) {
        if (!clients_submitted(&sim->clients, cmd.client_id, cmd.sequence, cmd.bytes, cmd.size)) {
            sim_fail(sim, "validity",
                     "slot %" PRIu64 " chose command %" PRIu64 ":%" PRIu64
                     " that no client submitted",
                     slot, cmd.client_id, cmd.sequence);
            return;
        }
    }
}

static void checker_advance(sim_t *sim);

/* Chosen: durable votes at one ballot from a majority of the voters of the configuration
 * governing the slot. A slot beyond what the chosen prefix determines waits: the prefix's
 * advance looks at it again (checker_advance). */
static void checker_count_chosen(sim_t *sim, uint64_t slot, slot_votes_t *sv, uint32_t index)
{
    const membership_t *config = checker_config_for_slot(&sim->checker, slot);
    vote_t *v = &sv->votes[index];
    if (config == NULL || !majority_of(config, v->voters)) {
        return;
    }
    if (sv->chosen < 0) {
        sv->chosen = (int32_t)index;
        sim->checker.chosen_count++;
        sim->stats.chosen_slots++;
        checker_validity(sim, slot, &v->value);
        if (slot == sim->checker.prefix + 1) {
            checker_advance(sim);
        }
        return;
    }
    const vote_t *first = &sv->votes[sv->chosen];
    if (!value_equal(&first->value, &v->value)) {
        char a[BALLOT_TEXT_BYTES], b[BALLOT_TEXT_BYTES], va[96], vb[96];
        describe_value(&first->value, va, sizeof(va));
        describe_value(&v->value, vb, sizeof(vb));
        sim_fail(sim, "agreement",
                 "slot %" PRIu64 ": %s chosen at %s (voters 0x%x), then %s chosen at %s "
                 "(voters 0x%x)",
                 slot, va, ballot_format(first->ballot, a, sizeof(a)), first->voters, vb,
                 ballot_format(v->ballot, b, sizeof(b)), v->voters);
    }
}

/* The observer's chosen prefix grows: each slot's value goes through config_state_apply,
 * and the slot whose configuration that settles (prefix + CONFIG_ALPHA) is counted. */
static void checker_advance(sim_t *sim)
{
    checker_t *ch = &sim->checker;
    if (ch->advancing) {
        return;
    }
    ch->advancing = true;
    while (!sim->failed) {
        const value_t *v = checker_chosen(ch, ch->prefix + 1);
        if (v == NULL) {
            break;
        }
        ch->prefix++;
        if (config_state_apply(&ch->cs, ch->prefix, v)) {
            if (ch->config_count == CHECKER_CONFIGS_MAX) {
                sim_fail(sim, "simulator", "more than %u configurations", CHECKER_CONFIGS_MAX);
                break;
            }
            checker_config_t *c = &ch->configs[ch->config_count];
            c->from = ch->cs.next_from;
            c->membership = *config_state_latest(&ch->cs);
            ch->configs_taken++;
            membership_on_chosen(sim, ch->prefix, &c->membership);
            ch->config_count++;
        }
        uint64_t settled = ch->prefix + CONFIG_ALPHA;
        if (settled < ch->slot_capacity) {
            slot_votes_t *sv = &ch->slots[settled];
            for (uint32_t i = 0; i < sv->count && !sim->failed; i++) {
                checker_count_chosen(sim, settled, sv, i);
            }
        }
    }
    ch->advancing = false;
}

/* The entry of (slot, ballot) holding r's value; NULL (after failing) when none can be. */
static vote_t *checker_vote_entry(sim_t *sim, uint32_t node, const persist_record_t *r,
                                  slot_votes_t **out_sv)
{
    slot_votes_t *sv = checker_slot(sim, r->slot);
    *out_sv = sv;
    if (sv == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < sv->count; i++) {
        vote_t *v = &sv->votes[i];
        if (!ballot_equal(v->ballot, r->ballot)) {
            continue;
        }
        if (!value_equal(&v->value, &r->value)) {
            char b[BALLOT_TEXT_BYTES];
            sim_fail(sim, "agreement",
                     "slot %" PRIu64 ": two different values accepted at %s (n%u differs "
                     "from voters 0x%x)",
                     r->slot, ballot_format(r->ballot, b, sizeof(b)), node, v->voters);
            return NULL;
        }
        return v;
    }
    if (sv->count == sv->capacity) {
        uint32_t capacity = sv->capacity == 0 ? 2 : sv->capacity * 2;
        vote_t *votes = NULL;
        if (capacity <= CHECKER_BALLOTS_PER_SLOT) {
            votes = realloc(sv->votes, capacity * sizeof(*votes));
        }
        if (votes == NULL) {
            sim_fail(sim, "simulator", "slot %" PRIu64 ": too many ballots", r->slot);
            return NULL;
        }
        sv->votes = votes;
        sv->capacity = capacity;
    }
    vote_t *v = &sv->votes[sv->count];
    if (!value_copy(&v->value, &r->value)) {
        sim_fail(sim, "simulator", "out of memory in the observer");
        return NULL;
    }
    v->ballot = r->ballot;
    v->voters = 0;
    v->adopters = 0;
    sv->count++;
    return v;
}

static void checker_vote(sim_t *sim, uint32_t node, const persist_record_t *r)
{
    slot_votes_t *sv = NULL;
    vote_t *v = checker_vote_entry(sim, node, r, &sv);
    if (v != NULL) {
        v->voters |= 1u << node;
        checker_count_chosen(sim, r->slot, sv, (uint32_t)(v - sv->votes));
    }
}

static void checker_adopt(sim_t *sim, uint32_t node, const persist_record_t *r)
{
    slot_votes_t *sv = NULL;
    vote_t *v = checker_vote_entry(sim, node, r, &sv);
    if (v != NULL) {
        v->adopters |= 1u << node;
    }
}

bool checker_accepted_sent(sim_t *sim, uint32_t node, uint64_t slot, ballot_t ballot)
{
    checker_t *ch = &sim->checker;
    if (slot >= ch->slot_capacity) {
        return false;
    }
    slot_votes_t *sv = &ch->slots[slot];
    for (uint32_t i = 0; i < sv->count; i++) {
        vote_t *v = &sv->votes[i];
        if (!ballot_equal(v->ballot, ballot)) {
            continue;
        }
        if ((v->voters & (1u << node)) != 0) {
            return true;
        }
        if ((v->adopters & (1u << node)) != 0) {
            v->voters |= 1u << node;
            checker_count_chosen(sim, slot, sv, i);
            return true;
        }
        return false;
    }
    return false;
}

static void checker_raise_durable_promise(checker_t *ch, uint32_t node,
                                          const persist_record_t *record)
{
    if (record->kind == PERSIST_PROMISE || record->kind == PERSIST_ACCEPT) {
        if (ballot_less(ch->durable_promise[node], record->ballot)) {
            ch->durable_promise[node] = record->ballot;
        }
    }
}

void checker_on_durable(sim_t *sim, uint32_t node, const persist_record_t *record)
{
    checker_t *ch = &sim->checker;
    checker_raise_durable_promise(ch, node, record);
    if (record->kind == PERSIST_ACCEPT) {
        if (checker_is_adopted(ch, node, record->seq)) {
            checker_adopt(sim, node, record);
        } else {
            checker_vote(sim, node, record);
        }
    }
}

/* A replayed ACCEPT may be a vote counted when it was synced, an unsynced vote that
 * survived a torn crash (never reported), or a rejoin's adopted copy: it is held as a copy
 * until the node answers Accepted for it. */
void checker_on_recovered(sim_t *sim, uint32_t node, const persist_record_t *record)
{
    checker_raise_durable_promise(&sim->checker, node, record);
    if (record->kind == PERSIST_ACCEPT) {
        checker_adopt(sim, node, record);
    }
}

/* A value of slot (v, or any when NULL) whose durable votes at one ballot are a majority of
 * another configuration than the one governing the slot (one the chosen log defined, or
 * one the simulator proposed, chosen or not): a second configuration deciding. *other
 * points into *scratch or the observer. */
static void checker_wrong_quorum(const sim_t *sim, uint64_t slot, const value_t *v,
                                 membership_t *scratch, const membership_t **other,
                                 uint32_t *acceptors)
{
    const checker_t *ch = &sim->checker;
    *other = NULL;
    if (slot >= ch->slot_capacity) {
        return;
    }
    const slot_votes_t *sv = &ch->slots[slot];
    for (uint32_t i = 0; i < sv->count; i++) {
        if (v != NULL && !value_equal(&sv->votes[i].value, v)) {
            continue;
        }
        *acceptors = sv->votes[i].voters;
        for (uint32_t c = 0; c < ch->config_count; c++) {
            if (majority_of(&ch->configs[c].membership, *acceptors)) {
                *other = &ch->configs[c].membership;
                return;
            }
        }
        const membership_ctl_t *ctl = &sim->members;
        for (uint32_t c = 0; c < ctl->proposed_count; c++) {
            const value_t *p = &ctl->proposed[c];
            if (membership_decode(scratch, p->bytes, p->size) && majority_of(scratch, *acceptors)) {
                *other = scratch;
                return;
            }
        }
    }
}

/* A node names `v` as the chosen value of `slot`: the observer must agree. A wrong apply
 * breaks prefix consistency; a wrong claim that a slot is chosen breaks agreement. */
static void checker_claim(sim_t *sim, uint32_t node, uint64_t slot, const value_t *v,
                          const char *how)
{
    const char *invariant = strcmp(how, "applied") == 0 ? "prefix consistency" : "agreement";
    const value_t *chosen = checker_chosen(&sim->checker, slot);
    if (chosen == NULL) {
        const membership_t *config = checker_config_for_slot(&sim->checker, slot);
        if (config == NULL) {
            sim_fail(sim, "quorum",
                     "n%u %s slot %" PRIu64 " but the chosen prefix (%" PRIu64
                     ") does not yet determine the configuration governing it",
                     node, how, slot, sim->checker.prefix);
            return;
        }
        const membership_t *other = NULL;
        uint32_t acceptors = 0;
        membership_t scratch;
        checker_wrong_quorum(sim, slot, v, &scratch, &other, &acceptors);
        if (other != NULL) {
            sim_fail(sim, "quorum",
                     "n%u %s slot %" PRIu64 ", whose value has durable votes from 0x%x: a "
                     "majority of epoch %" PRIu64 " (voters 0x%x), not of epoch %" PRIu64
                     " (voters 0x%x), which governs the slot",
                     node, how, slot, acceptors, other->epoch, membership_voter_mask(other),
                     config->epoch, membership_voter_mask(config));
            return;
        }
        sim_fail(sim, invariant,
                 "n%u %s slot %" PRIu64
                 " but no majority of its configuration's voters (epoch %" PRIu64
                 ", voters 0x%x) durably accepted any value there",
                 node, how, slot, config->epoch, membership_voter_mask(config));
        return;
    }
    if (v != NULL && !value_equal(chosen, v)) {
        char va[96], vb[96];
        describe_value(chosen, va, sizeof(va));
        describe_value(v, vb, sizeof(vb));
        sim_fail(sim, invariant, "n%u %s slot %" PRIu64 " as %s but %s was chosen", node, how, slot,
                 vb, va);
    }
}

void checker_on_apply(sim_t *sim, uint32_t node, uint64_t slot, const value_t *value)
{
    checker_t *ch = &sim->checker;
    if (slot != ch->next_apply[node]) {
        sim_fail(sim, "prefix consistency",
                 "n%u applied slot %" PRIu64 " where slot %" PRIu64 " was next", node, slot,
                 ch->next_apply[node]);
        return;
    }
    ch->next_apply[node] = slot + 1;
    checker_claim(sim, node, slot, value, "applied");
}

/* The quorum rule, checked directly: a leader declares slot chosen at ballot b only with
 * durable votes for that value at b from a majority of the voters of the configuration
 * that governs the slot (computed by the observer from its own chosen prefix), whatever
 * configuration the leader counted against. */
static void checker_quorum(sim_t *sim, uint32_t node, uint64_t slot, ballot_t b)
{
    checker_t *ch = &sim->checker;
    char bt[BALLOT_TEXT_BYTES];
    const membership_t *config = checker_config_for_slot(ch, slot);
    if (config == NULL) {
        sim_fail(sim, "quorum",
                 "n%u declared slot %" PRIu64 " chosen at %s, but the chosen prefix (%" PRIu64
                 ") does not yet determine the configuration governing that slot",
                 node, slot, ballot_format(b, bt, sizeof(bt)), ch->prefix);
        return;
    }
    const value_t *v = node_chosen_value(sim->nodes[node].core, slot);
    uint32_t acceptors = 0;
    if (slot < ch->slot_capacity) {
        const slot_votes_t *sv = &ch->slots[slot];
        for (uint32_t i = 0; i < sv->count; i++) {
            if (ballot_equal(sv->votes[i].ballot, b) &&
                (v == NULL || value_equal(&sv->votes[i].value, v))) {
                acceptors = sv->votes[i].voters;
            }
        }
    }
    if (majority_of(config, acceptors)) {
        return;
    }
    const membership_t *latest = checker_config_latest(ch);
    sim_fail(sim, "quorum",
             "n%u declared slot %" PRIu64 " chosen at %s with durable votes from 0x%x there, "
             "not a majority of the voters 0x%x of epoch %" PRIu64
             ", the configuration governing that slot (newest chosen: epoch %" PRIu64
             ", voters 0x%x%s)",
             node, slot, ballot_format(b, bt, sizeof(bt)), acceptors, membership_voter_mask(config),
             config->epoch, latest->epoch, membership_voter_mask(latest),
             majority_of(latest, acceptors) ? ", which they are a majority of" : "");
}

static void checker_voter_of(sim_t *sim, uint32_t node, const node_status_t *st, const char *what)
{
    if (!st->voter) {
        sim_fail(sim, "voter", "n%u %s while its status says it is not a voter", node, what);
        return;
    }
    const membership_t *config = checker_config_for_slot(&sim->checker, st->chosen_upto + 1);
    if (config == NULL) {
        return;
    }
    const member_t *m = membership_find(config, node);
    if (m == NULL || m->role != MEMBER_VOTER) {
        sim_fail(sim, "voter",
                 "n%u %s, but the configuration of its next slot %" PRIu64 " (epoch %" PRIu64
                 ", voters 0x%x) has it %s",
                 node, what, st->chosen_upto + 1, config->epoch, membership_voter_mask(config),
                 m == NULL ? "not a member" : "as a learner");
    }
}

void checker_voter(sim_t *sim, uint32_t node, const node_status_t *st)
{
    if (st->role == ROLE_LEADER) {
        checker_voter_of(sim, node, st, "leads");
    } else if (st->role == ROLE_CANDIDATE) {
        checker_voter_of(sim, node, st, "campaigns");
    }
}

void checker_on_event(sim_t *sim, uint32_t node, const event_t *ev)
{
    if (ev->kind == EVENT_PREPARE_SENT || ev->kind == EVENT_LEADER_ELECTED) {
        node_status_t st;
        node_get_status(sim->nodes[node].core, sim_node_local(sim, node), &st);
        checker_voter_of(sim, node, &st,
                         ev->kind == EVENT_PREPARE_SENT ? "sent a Prepare" : "was elected");
        return;
    }
    if (ev->kind != EVENT_CHOSEN && ev->kind != EVENT_LEARNED) {
        return;
    }
    if (ev->kind == EVENT_CHOSEN) {
        checker_quorum(sim, node, ev->slot_first, ev->ballot);
        if (sim->failed) {
            return;
        }
    }
    const node_t *core = sim->nodes[node].core;
    uint64_t last = ev->slot_last < ev->slot_first ? ev->slot_first : ev->slot_last;
    for (uint64_t s = ev->slot_first; s <= last && !sim->failed; s++) {
        checker_claim(sim, node, s, node_chosen_value(core, s),
                      ev->kind == EVENT_CHOSEN ? "declared chosen" : "learned");
    }
}
