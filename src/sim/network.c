#include "sim/network.h"

#include "core/check.h"
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

void network_init(network_t *net, double loss, double dup, double reorder)
{
    memset(net, 0, sizeof(*net));
    net->loss = loss;
    net->dup = dup;
    net->reorder = reorder;
}

static uint64_t network_delay(sim_t *sim)
{
    if (prng_chance(&sim->rng, sim->net.reorder)) {
        return prng_range(&sim->rng, NET_DELAY_MS_MAX, NET_LONG_DELAY_MS_MAX);
    }
    return prng_range(&sim->rng, NET_DELAY_MS_MIN, NET_DELAY_MS_MAX);
}

static void network_enqueue(sim_t *sim, const msg_t *m)
{
    msg_t *copy = malloc(sizeof(*copy));
    if (copy == NULL || !msg_copy(copy, m)) {
        free(copy);
        sim_fail(sim, "simulator", "out of memory copying a message");
        return;
    }
    sim_event_t ev = {.time_ms = sim->now_ms + network_delay(sim),
                      .kind = SIM_EV_DELIVER,
                      .node = m->to,
                      .msg = copy};
    if (!queue_push(&sim->queue, &ev)) {
        msg_free(copy);
        free(copy);
        sim_fail(sim, "simulator", "agenda full (%u entries)", QUEUE_ENTRIES_MAX);
    }
}

void network_send(sim_t *sim, const msg_t *m)
{
    assert(m->from >= 1 && m->from <= sim->node_count);
    assert(m->to >= 1 && m->to <= sim->node_count);
    assert(m->from != m->to);
    sim->stats.messages_sent++;
    if (sim->net.cut[m->from][m->to] || prng_chance(&sim->rng, sim->net.loss)) {
        sim->stats.messages_dropped++;
        return;
    }
#ifdef BALLOT_SIM_PLANT_CORRUPT_FORWARD
    /* Planted bug: a forwarded command's value changes on the way (undetected). */
    if (m->type == MSG_FORWARD && m->u.forward.payload.size >= 3) {
        m->u.forward.payload.bytes[2] ^= 0x40;
    }
#endif
    network_enqueue(sim, m);
    if (prng_chance(&sim->rng, sim->net.dup)) {
        sim->stats.messages_duplicated++;
        network_enqueue(sim, m);
    }
}

void network_deliver(sim_t *sim, msg_t *m)
{
    uint32_t to = m->to;
    if (sim->net.cut[m->from][to] || !sim_node_up(sim, to)) {
        sim->stats.messages_dropped++;
        return;
    }
    sim->stats.messages_delivered++;
    int err = node_receive(sim->nodes[to].core, m, sim_node_local(sim, to));
    if (err != BALLOT_OK) {
        /* Every message the simulator carries came out of a core, which only sends
         * well-formed messages: a refusal is a core bug worth stopping for. */
        sim_fail(sim, "message validity", "n%u refused a %s from n%u: %s", to,
                 msg_type_name(m->type), m->from, ballot_strerror(err));
    }
    sim_after_input(sim, to);
}

void network_cut(network_t *net, uint32_t from, uint32_t to)
{
    net->cut[from][to] = true;
}

void network_restore(network_t *net, uint32_t from, uint32_t to)
{
    net->cut[from][to] = false;
}

void network_isolate(network_t *net, uint32_t node, uint32_t node_count, bool cut)
{
    for (uint32_t other = 1; other <= node_count; other++) {
        if (other != node) {
            net->cut[node][other] = cut;
            net->cut[other][node] = cut;
        }
    }
}

void network_heal(network_t *net)
{
    memset(net->cut, 0, sizeof(net->cut));
}
