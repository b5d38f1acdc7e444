/* The Redis Cluster protocol for one shard (docs/operations.md "Cluster-aware clients").
 *
 * A Ballot cluster is one shard: one slot range, 0-16383, whose master is the current
 * leader and whose replicas are the other nodes. CLUSTER SLOTS, SHARDS, NODES, INFO, MYID
 * and KEYSLOT describe it so that cluster-aware clients (redis-py RedisCluster, ioredis
 * Cluster, redis-cli -c) send commands to the leader and find the new one when it moves.
 * With --cluster-enabled yes, a follower answers a key command -MOVED <slot> <leader> (a
 * READONLY connection's reads excepted), and -CLUSTERDOWN while no leader is known, as a
 * Redis replica would; without it, CLUSTER answers the same and followers forward.
 *
 * The slot map is a table of ranges, each owned by a shard (a set of member nodes): one
 * range and one shard today, the shape that many Paxos groups behind one endpoint take
 * later. Node ids are 40 hex digits made from the cluster id and the node id, so every node
 * names every other the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"

#define CLUSTER_SLOT_COUNT 16384u
#define CLUSTER_RANGES_MAX 64u
#define CLUSTER_SHARDS_MAX 8u
#define CLUSTER_ID_BYTES   41u /* 40 hex digits and a NUL */
#define CLUSTER_LINE_BYTES 512u

typedef struct cluster_range {
    uint16_t first;
    uint16_t last;
    uint32_t shard;
} cluster_range_t;

typedef struct cluster_shard {
    uint32_t members[NODES_MAX];
    uint32_t member_count;
} cluster_shard_t;

struct cluster_map {
    cluster_range_t ranges[CLUSTER_RANGES_MAX]; /* sorted, disjoint, covering 0..16383 */
    uint32_t range_count;
    cluster_shard_t shards[CLUSTER_SHARDS_MAX];
    uint32_t shard_count;
};

int cluster_start(server_t *srv)
{
    cluster_map_t *map = calloc(1, sizeof(*map));
    if (map == NULL) {
        return BALLOT_ENOMEM;
    }
    /* One shard of every node, owning every slot. */
    cluster_shard_t *shard = &map->shards[map->shard_count++];
    for (uint32_t id = 1; id <= srv->cfg->node_count; id++) {
        shard->members[shard->member_count++] = id;
    }
    map->ranges[map->range_count++] =
        (cluster_range_t){.first = 0, .last = CLUSTER_SLOT_COUNT - 1, .shard = 0};
    srv->cluster = map;
    return BALLOT_OK;
}

void cluster_free(server_t *srv)
{
    free(srv->cluster);
    srv->cluster = NULL;
}

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the hash Redis Cluster uses. */
static uint16_t cluster_crc16(const uint8_t *bytes, uint32_t size)
{
    uint32_t crc = 0;
    for (uint32_t i = 0; i < size; i++) {
        crc ^= (uint32_t)bytes[i] << 8;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) != 0 ? ((crc << 1) ^ 0x1021u) & 0xffffu : (crc << 1) & 0xffffu;
        }
    }
    return (uint16_t)crc;
}

uint16_t cluster_key_slot(const uint8_t *key, uint32_t size)
{
    /* A hash tag: the bytes between the first '{' and the next '}', when not empty. */
    for (uint32_t open = 0; open < size; open++) {
        if (key[open] != '{') {
            continue;
        }
        for (uint32_t close = open + 1; close < size; close++) {
            if (key[close] == '}') {
                if (close > open + 1) {
                    return (uint16_t)(cluster_crc16(key + open + 1, close - open - 1) &
                                      (CLUSTER_SLOT_COUNT - 1));
                }
                break;
            }
        }
        break;
    }
    return (uint16_t)(cluster_crc16(key, size) & (CLUSTER_SLOT_COUNT - 1));
}

static const cluster_shard_t *cluster_shard_of(const cluster_map_t *map, uint16_t slot)
{
    /* Bounded by CLUSTER_RANGES_MAX. */
    for (uint32_t i = 0; i < map->range_count; i++) {
        if (slot >= map->ranges[i].first && slot <= map->ranges[i].last) {
            return &map->shards[map->ranges[i].shard];
        }
    }
    return NULL;
}

static bool cluster_shard_has(const cluster_shard_t *shard, uint32_t id)
{
    for (uint32_t i = 0; i < shard->member_count; i++) {
        if (shard->members[i] == id) {
            return true;
        }
    }
    return false;
}

static void cluster_node_id(const server_t *srv, uint32_t node, char out[CLUSTER_ID_BYTES])
{
    snprintf(out, CLUSTER_ID_BYTES, "%016llx%08x%016llx", (unsigned long long)srv->cfg->cluster_id,
             node, 0xba11070000000000ull);
}

/* The RESP address clients use for a node; false when it is not known (--peer-clients). */
static bool cluster_node_addr(const server_t *srv, uint32_t node, const net_addr_t **out)
{
    if (node == srv->cfg->id) {
        *out = &srv->cfg->client_addr;
        return true;
    }
    if (node >= 1 && node <= NODES_MAX && srv->cfg->peer_client_set[node]) {
        *out = &srv->cfg->peer_clients[node];
        return true;
    }
    return false;
}

/* The shard's master: the leader, or, while none is known (or its address is not), this
 * node (its -CLUSTERDOWN then sends clients to refresh until a leader is elected). */
static uint32_t cluster_master(const server_t *srv, const cluster_shard_t *shard,
                               const node_status_t *st)
{
    const net_addr_t *addr = NULL;
    if (st->leader != NODE_NONE && cluster_shard_has(shard, st->leader) &&
        cluster_node_addr(srv, st->leader, &addr)) {
        return st->leader;
    }
    return srv->cfg->id;
}

static bool cluster_node_up(const server_t *srv, uint32_t node)
{
    return node == srv->cfg->id || (node <= NODES_MAX && srv->peers[node].up);
}

bool cluster_redirect(client_t *client, bool read, const uint8_t *key, uint32_t key_size)
{
    server_t *srv = client->srv;
    if (!srv->cfg->cluster_enabled || srv->cluster == NULL || (read && client->stale_reads)) {
        return false;
    }
    uint16_t slot = cluster_key_slot(key, key_size);
    const cluster_shard_t *shard = cluster_shard_of(srv->cluster, slot);
    node_status_t st;
    node_get_status(srv->node, server_now_ms(), &st);
    if (shard == NULL) {
        client_reply_error(client, "CLUSTERDOWN Hash slot not served");
        return true;
    }
    if (st.leader == srv->cfg->id && cluster_shard_has(shard, st.leader)) {
        return false;
    }
    if (st.leader == NODE_NONE || !cluster_shard_has(shard, st.leader)) {
        client_reply_error(client, "CLUSTERDOWN The cluster is down: no leader is known (an "
                                   "election may be running); not applied");
        return true;
    }
    const net_addr_t *addr = NULL;
    if (!cluster_node_addr(srv, st.leader, &addr)) {
        return false; /* the leader's address is not configured: forward as usual */
    }
    client_reply_error(client, "MOVED %u %s:%u", (unsigned)slot, addr->host, (unsigned)addr->port);
    return true;
}

/* [host, port, id] */
static void cluster_reply_node(wire_buf_t *out, const server_t *srv, uint32_t node)
{
    const net_addr_t *addr = NULL;
    char id[CLUSTER_ID_BYTES];
    cluster_node_addr(srv, node, &addr);
    cluster_node_id(srv, node, id);
    resp_reply_array_header(out, 3);
    resp_reply_bulk(out, addr->host, strlen(addr->host));
    resp_reply_integer(out, addr->port);
    resp_reply_bulk(out, id, strlen(id));
}

static uint32_t cluster_listed(const server_t *srv, const cluster_shard_t *shard)
{
    uint32_t n = 0;
    const net_addr_t *addr = NULL;
    for (uint32_t i = 0; i < shard->member_count; i++) {
        n += cluster_node_addr(srv, shard->members[i], &addr) ? 1u : 0u;
    }
    return n;
}

static void cluster_slots(client_t *client, const node_status_t *st)
{
    server_t *srv = client->srv;
    const cluster_map_t *map = srv->cluster;
    wire_buf_t *out = server_scratch(srv);
    resp_reply_array_header(out, map->range_count);
    for (uint32_t r = 0; r < map->range_count; r++) {
        const cluster_shard_t *shard = &map->shards[map->ranges[r].shard];
        uint32_t master = cluster_master(srv, shard, st);
        const net_addr_t *addr = NULL;
        resp_reply_array_header(out, 2 + cluster_listed(srv, shard));
        resp_reply_integer(out, map->ranges[r].first);
        resp_reply_integer(out, map->ranges[r].last);
        cluster_reply_node(out, srv, master);
        for (uint32_t i = 0; i < shard->member_count; i++) {
            uint32_t node = shard->members[i];
            if (node != master && cluster_node_addr(srv, node, &addr)) {
                cluster_reply_node(out, srv, node);
            }
        }
    }
    client_reply_now(client, out);
}

static void cluster_bulk_text(wire_buf_t *out, const char *text)
{
    resp_reply_bulk(out, text, strlen(text));
}

static void cluster_shards(client_t *client, const node_status_t *st)
{
    server_t *srv = client->srv;
    const cluster_map_t *map = srv->cluster;
    wire_buf_t *out = server_scratch(srv);
    resp_reply_array_header(out, map->shard_count);
    for (uint32_t s = 0; s < map->shard_count; s++) {
        const cluster_shard_t *shard = &map->shards[s];
        uint32_t master = cluster_master(srv, shard, st);
        uint32_t ranges = 0;
        for (uint32_t r = 0; r < map->range_count; r++) {
            ranges += map->ranges[r].shard == s ? 1u : 0u;
        }
        resp_reply_array_header(out, 4);
        cluster_bulk_text(out, "slots");
        resp_reply_array_header(out, 2 * ranges);
        for (uint32_t r = 0; r < map->range_count; r++) {
            if (map->ranges[r].shard == s) {
                resp_reply_integer(out, map->ranges[r].first);
                resp_reply_integer(out, map->ranges[r].last);
            }
        }
        cluster_bulk_text(out, "nodes");
        resp_reply_array_header(out, cluster_listed(srv, shard));
        for (uint32_t i = 0; i < shard->member_count; i++) {
            uint32_t node = shard->members[i];
            const net_addr_t *addr = NULL;
            if (!cluster_node_addr(srv, node, &addr)) {
                continue;
            }
            char id[CLUSTER_ID_BYTES];
            cluster_node_id(srv, node, id);
            resp_reply_array_header(out, 14);
            cluster_bulk_text(out, "id");
            cluster_bulk_text(out, id);
            cluster_bulk_text(out, "port");
            resp_reply_integer(out, addr->port);
            cluster_bulk_text(out, "ip");
            cluster_bulk_text(out, addr->host);
            cluster_bulk_text(out, "endpoint");
            cluster_bulk_text(out, addr->host);
            cluster_bulk_text(out, "role");
            cluster_bulk_text(out, node == master ? "master" : "replica");
            cluster_bulk_text(out, "replication-offset");
            resp_reply_integer(out, (int64_t)(node == srv->cfg->id ? srv->applied_slot : 0));
            cluster_bulk_text(out, "health");
            cluster_bulk_text(out, cluster_node_up(srv, node) ? "online" : "failed");
        }
    }
    client_reply_now(client, out);
}

static void cluster_nodes(client_t *client, const node_status_t *st)
{
    server_t *srv = client->srv;
    const cluster_map_t *map = srv->cluster;
    wire_buf_t text;
    wire_buf_init(&text);
    const cluster_shard_t *shard = &map->shards[0];
    uint32_t master = cluster_master(srv, shard, st);
    char master_id[CLUSTER_ID_BYTES];
    cluster_node_id(srv, master, master_id);
    for (uint32_t i = 0; i < shard->member_count; i++) {
        uint32_t node = shard->members[i];
        const net_addr_t *addr = NULL;
        if (!cluster_node_addr(srv, node, &addr)) {
            continue;
        }
        char id[CLUSTER_ID_BYTES];
        char line[CLUSTER_LINE_BYTES];
        char slots[CLUSTER_RANGES_MAX * 12 + 1];
        size_t used = 0;
        slots[0] = '\0';
        for (uint32_t r = 0; node == master && r < map->range_count; r++) {
            int n = snprintf(slots + used, sizeof(slots) - used, " %u-%u",
                             (unsigned)map->ranges[r].first, (unsigned)map->ranges[r].last);
            used += n > 0 ? (size_t)n : 0;
        }
        cluster_node_id(srv, node, id);
        uint16_t cport =
            node <= NODES_MAX && srv->cfg->peer_set[node] ? srv->cfg->peers[node].port : 0;
        int n = snprintf(
            line, sizeof(line), "%s %s:%u@%u %s%s%s %s 0 0 %llu %s%s\n", id, addr->host,
            (unsigned)addr->port, (unsigned)cport, node == srv->cfg->id ? "myself," : "",
            node == master ? "master" : "slave", cluster_node_up(srv, node) ? "" : ",fail?",
            node == master ? "-" : master_id, (unsigned long long)st->leader_ballot.round,
            cluster_node_up(srv, node) ? "connected" : "disconnected", slots);
        if (n > 0 && (size_t)n < sizeof(line)) {
            wire_buf_append(&text, line, (size_t)n);
        }
    }
    wire_buf_t *out = server_scratch(srv);
    resp_reply_bulk(out, text.bytes, text.size);
    wire_buf_free(&text);
    client_reply_now(client, out);
}

static void cluster_info(client_t *client, const node_status_t *st)
{
    server_t *srv = client->srv;
    bool ok = st->leader != NODE_NONE && cluster_node_up(srv, st->leader);
    uint32_t known = 0;
    const net_addr_t *addr = NULL;
    for (uint32_t id = 1; id <= srv->cfg->node_count; id++) {
        known += cluster_node_addr(srv, id, &addr) ? 1u : 0u;
    }
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "cluster_enabled:%d\r\ncluster_state:%s\r\ncluster_slots_assigned:%u\r\n"
                     "cluster_slots_ok:%u\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:%u\r\n"
                     "cluster_known_nodes:%u\r\ncluster_size:%u\r\ncluster_current_epoch:%llu\r\n"
                     "cluster_my_epoch:%llu\r\ncluster_stats_messages_sent:0\r\n"
                     "cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_"
                     "exceeded:0\r\n",
                     srv->cfg->cluster_enabled ? 1 : 0, ok ? "ok" : "fail", CLUSTER_SLOT_COUNT,
                     ok ? CLUSTER_SLOT_COUNT : 0u, ok ? 0u : CLUSTER_SLOT_COUNT, known,
                     srv->cluster->shard_count, (unsigned long long)st->promised.round,
                     (unsigned long long)st->leader_ballot.round);
    wire_buf_t *out = server_scratch(srv);
    resp_reply_bulk(out, text, (size_t)(n > 0 && (size_t)n < sizeof(text) ? n : 0));
    client_reply_now(client, out);
}

static bool cluster_arg_is(const uint8_t *arg, uint32_t len, const char *word)
{
    return len == strlen(word) && strncasecmp((const char *)arg, word, len) == 0;
}

void cluster_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                     const uint32_t *len)
{
    server_t *srv = client->srv;
    if (argc < 2) {
        client_reply_error(client, "ERR wrong number of arguments for 'cluster' command");
        return;
    }
    node_status_t st;
    node_get_status(srv->node, server_now_ms(), &st);
    wire_buf_t *out = server_scratch(srv);
    if (argc == 2 && cluster_arg_is(argv[1], len[1], "SLOTS")) {
        cluster_slots(client, &st);
    } else if (argc == 2 && cluster_arg_is(argv[1], len[1], "SHARDS")) {
        cluster_shards(client, &st);
    } else if (argc == 2 && cluster_arg_is(argv[1], len[1], "NODES")) {
        cluster_nodes(client, &st);
    } else if (argc == 2 && cluster_arg_is(argv[1], len[1], "INFO")) {
        cluster_info(client, &st);
    } else if (argc == 2 && cluster_arg_is(argv[1], len[1], "MYID")) {
        char id[CLUSTER_ID_BYTES];
        cluster_node_id(srv, srv->cfg->id, id);
        resp_reply_bulk(out, id, strlen(id));
        client_reply_now(client, out);
    } else if (argc == 3 && cluster_arg_is(argv[1], len[1], "KEYSLOT")) {
        resp_reply_integer(out, cluster_key_slot(argv[2], len[2]));
        client_reply_now(client, out);
    } else if (argc == 2 && cluster_arg_is(argv[1], len[1], "HELP")) {
        static const char *const help[] = {
            "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node.",
            "SHARDS",
            "    Return information about slot range mappings and the nodes.",
            "SLOTS",
            "    Return information about slots range mappings.",
        };
        resp_reply_array_header(out, (int64_t)(sizeof(help) / sizeof(help[0])));
        for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
            resp_reply_simple(out, help[i]);
        }
        client_reply_now(client, out);
    } else {
        client_reply_error(client,
                           "ERR unknown subcommand or wrong number of arguments for '%.*s'. "
                           "Try CLUSTER HELP.",
                           (int)(len[1] < 32u ? len[1] : 32u), (const char *)argv[1]);
    }
}
