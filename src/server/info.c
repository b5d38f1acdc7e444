/* INFO: the node's view of the cluster, in Redis's `key:value` sections. `ballot status`
 * reads the "# Ballot" section. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

#define INFO_LINE_BYTES     512u
#define BALLOT_VERSION_TEXT "0.1.0"

static void info_line(wire_buf_t *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void info_line(wire_buf_t *out, const char *format, ...)
{
    char line[INFO_LINE_BYTES];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof(line) - 2, format, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 3;
    line[len++] = '\r';
    line[len++] = '\n';
    wire_buf_append(out, line, len);
}

static void info_blank(wire_buf_t *out)
{
    wire_buf_append(out, "\r\n", 2);
}

const char *server_leader_hint(server_t *srv, char *buf, size_t buf_bytes)
{
    node_status_t status;
    node_get_status(srv->node, server_now_ms(), &status);
    uint32_t leader = status.leader;
    if (leader == NODE_NONE) {
        snprintf(buf, buf_bytes, "unknown");
    } else if (leader <= NODES_MAX && srv->cfg->peer_client_set[leader]) {
        char addr[NET_HOST_BYTES_MAX + 8];
        snprintf(buf, buf_bytes, "n%u at %s", leader,
                 net_addr_format(&srv->cfg->peer_clients[leader], addr, sizeof(addr)));
    } else {
        snprintf(buf, buf_bytes, "n%u", leader);
    }
    return buf;
}

static void info_server(server_t *srv, wire_buf_t *out, uint64_t now)
{
    info_line(out, "# Server");
    /* Client libraries read redis_version to pick features; Ballot speaks RESP2 as 7.0. */
    info_line(out, "redis_version:7.0.0");
    info_line(out, "ballot_version:%s", BALLOT_VERSION_TEXT);
    info_line(out, "redis_mode:%s", srv->cfg->cluster_enabled ? "cluster" : "standalone");
    info_line(out, "process_id:%ld", (long)getpid());
    info_line(out, "tcp_port:%u", (unsigned)srv->cfg->client_addr.port);
    info_line(out, "uptime_in_seconds:%llu", (unsigned long long)((now - srv->started_ms) / 1000u));
    info_blank(out);
}

static void info_ballot(server_t *srv, wire_buf_t *out, uint64_t now)
{
    node_status_t st;
    node_get_status(srv->node, now, &st);
    char b1[BALLOT_TEXT_BYTES];
    char b2[BALLOT_TEXT_BYTES];
    char hint[NET_HOST_BYTES_MAX + 32];
    info_line(out, "# Ballot");
    info_line(out, "node_id:%u", srv->cfg->id);
    info_line(out, "cluster_id:%llu", (unsigned long long)srv->cfg->cluster_id);
    const membership_t *members = config_state_latest(&srv->members);
    info_line(out, "node_count:%u", srv->members_known ? membership_voters(members) : 0u);
    info_line(out, "members:%u", srv->members_known ? members->count : 0u);
    info_line(out, "config_epoch:%llu", (unsigned long long)members->epoch);
    info_line(out, "voter:%u", members_is_voter(srv, srv->cfg->id) ? 1u : 0u);
    info_line(out, "role:%s", node_role_name(st.role));
    info_line(out, "leader_id:%u", st.leader);
    info_line(out, "leader:%s", server_leader_hint(srv, hint, sizeof(hint)));
    info_line(out, "ballot:%s", ballot_format(st.leader_ballot, b1, sizeof(b1)));
    info_line(out, "promised:%s", ballot_format(st.promised, b2, sizeof(b2)));
    info_line(out, "commit_index:%llu", (unsigned long long)st.chosen_upto);
    info_line(out, "applied_index:%llu", (unsigned long long)srv->applied_slot);
    info_line(out, "highest_accepted_slot:%llu", (unsigned long long)st.highest_accepted_slot);
    info_line(out, "log_first_slot:%llu", (unsigned long long)st.log_first_slot);
    info_line(out, "snapshot_slot:%llu", (unsigned long long)srv->snapshot_slot);
    info_line(out, "lease_held:%d", st.lease_held ? 1 : 0);
    info_line(out, "lease_remaining_ms:%llu",
              (unsigned long long)(st.lease_held && st.lease_until_ms > now
                                       ? st.lease_until_ms - now
                                       : 0));
    info_line(out, "pending_commands:%u", st.pending_commands);
    info_line(out, "in_flight_slots:%u", st.in_flight_slots);
    info_line(out, "rejoining:%d", st.rejoining ? 1 : 0);
    info_line(out, "incarnation:%016llx", (unsigned long long)srv->identity.incarnation);
    info_line(out, "incarnation_origin:%s", identity_origin_name(srv->identity.origin));
    const node_config_t *nc = &srv->cfg->node;
    info_line(out, "heartbeat_ms:%u", nc->heartbeat_ms);
    info_line(out, "election_timeout_min_ms:%u", nc->election_timeout_min_ms);
    info_line(out, "election_timeout_max_ms:%u", nc->election_timeout_max_ms);
    info_line(out, "lease_ms:%u", nc->lease_ms);
    info_line(out, "drift_ms:%u", nc->clock_drift_ms);
    info_line(out, "peers_up:%u", peers_up_count(srv));
    info_line(out, "disk_full:%d", srv->disk_full ? 1 : 0);
    info_blank(out);
}

static void info_stats(server_t *srv, wire_buf_t *out)
{
    info_line(out, "# Clients");
    info_line(out, "connected_clients:%u", srv->client_count);
    info_blank(out);
    info_line(out, "# Stats");
    info_line(out, "total_connections_received:%llu", (unsigned long long)srv->stat_connections);
    info_line(out, "rejected_connections:%llu", (unsigned long long)srv->stat_rejected_connections);
    info_line(out, "total_commands_processed:%llu", (unsigned long long)srv->stat_commands);
    info_line(out, "writes_applied:%llu", (unsigned long long)srv->stat_writes);
    info_line(out, "reads_served:%llu", (unsigned long long)srv->stat_reads);
    info_line(out, "errors_replied:%llu", (unsigned long long)srv->stat_errors);
    info_line(out, "resp_requests_refused:%llu", (unsigned long long)srv->stat_resp_refused);
    info_line(out, "peer_frames_refused:%llu", (unsigned long long)srv->stat_peer_frames_refused);
    info_line(out, "peer_auth_refused:%llu", (unsigned long long)srv->stat_peer_auth_refused);
    info_line(out, "handshakes_pending:%u", srv->peer_pending.count + srv->client_pending.count);
    info_line(out, "handshakes_expired:%llu",
              (unsigned long long)(srv->peer_pending.expired + srv->client_pending.expired));
    info_line(out, "handshakes_refused_full:%llu",
              (unsigned long long)(srv->peer_pending.refused + srv->client_pending.refused));
    info_line(out, "peers_refused_amnesia:%llu", (unsigned long long)srv->stat_amnesia_refused);
    info_line(out, "peer_messages_refused:%llu", (unsigned long long)node_refused_count(srv->node));
    info_line(out, "peer_conflicts:%llu", (unsigned long long)srv->stat_peer_conflicts);
    info_line(out, "buffered_bytes:%llu", (unsigned long long)net_loop_buffered_bytes(srv->loop));
    info_line(out, "buffer_bytes_max:%llu", (unsigned long long)srv->cfg->buffer_bytes_max);
    info_line(out, "buffer_budget_closes:%llu",
              (unsigned long long)net_loop_budget_closes(srv->loop));
    info_line(out, "idle_clients_evicted:%llu", (unsigned long long)srv->stat_idle_evicted);
    info_line(out, "acl_access_denied_auth:%llu", (unsigned long long)srv->stat_auth_failures);
    info_line(out, "acl_access_denied_cmd:%llu", (unsigned long long)srv->stat_denied_commands);
    info_blank(out);
    info_line(out, "# Memory");
    info_line(out, "kv_memory_bytes:%llu", (unsigned long long)kv_memory_bytes(srv->kv));
    info_blank(out);
    info_line(out, "# Keyspace");
    info_line(out, "db0:keys=%llu,expires=%llu,avg_ttl=0",
              (unsigned long long)kv_key_count(srv->kv),
              (unsigned long long)kv_volatile_count(srv->kv));
    info_line(out, "state_machine_time_ms:%llu", (unsigned long long)kv_time_ms(srv->kv));
    info_line(out, "expired_keys_proposed:%llu", (unsigned long long)srv->stat_expired_proposed);
}

void commands_info(server_t *srv, wire_buf_t *out)
{
    uint64_t now = server_now_ms();
    info_server(srv, out, now);
    info_ballot(srv, out, now);
    info_stats(srv, out);
    info_blank(out);
    info_line(out, "# Cluster");
    info_line(out, "cluster_enabled:%d", srv->cfg->cluster_enabled ? 1 : 0);
    metrics_info_commandstats(srv, out);
}
