#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kv/kv.h"
#include "server/config.h"

typedef enum opt_kind {
    OPT_U32 = 1,
    OPT_U64 = 2,
    OPT_PATH = 3,
    OPT_ADDR = 4,
    OPT_PEERS = 5,
    OPT_PEER_CLIENTS = 6,
    OPT_FLAG = 7,
    OPT_LEVEL = 8,
    OPT_CLUSTER_ID = 9,
    OPT_CONFIG = 10,
    OPT_HELP = 11,
    OPT_VERSION = 12,
    OPT_YESNO = 13, /* a flag that takes a value: --protected-mode no */
    OPT_JOIN = 14,
} opt_kind_t;

typedef struct opt {
    const char *name;
    opt_kind_t kind;
    size_t offset;
    uint64_t min;
    uint64_t max;
    bool in_node; /* a node_config_t field: defaults come from node_config_default() */
    const char *arg;
    const char *help;
} opt_t;

#define SC(field)   offsetof(server_config_t, field)
#define NODE(field) offsetof(server_config_t, node.field)

static const opt_t config_opts[] = {
    {"id", OPT_U32, SC(id), 1, NODES_MAX, false, "N", "this node's id, 1..node count"},
    {"data-dir", OPT_PATH, SC(data_dir), 0, 0, false, "DIR", "WAL, snapshots (created)"},
    {"client", OPT_ADDR, SC(client_addr), 0, 0, false, "HOST:PORT", "RESP listener"},
    {"peer", OPT_ADDR, SC(peer_addr), 0, 0, false, "HOST:PORT", "own peer listener"},
    {"peers", OPT_PEERS, 0, 0, 0, false, "ID=HOST:PORT,...", "every node's peer address"},
    {"peer-clients", OPT_PEER_CLIENTS, 0, 0, 0, false, "ID=HOST:PORT,...",
     "RESP addresses (for leader hints in INFO and NOTLEADER)"},
    {"cluster-id", OPT_CLUSTER_ID, SC(cluster_id), 0, 0, false, "N",
     "shared by all nodes; peers with another id are refused (default 1)"},
    {"rejoin", OPT_FLAG, SC(rejoin), 0, 0, false, NULL,
     "this node's disk was lost or is corrupt: discard the WAL, rejoin safely"},
    {"bootstrap", OPT_FLAG, SC(bootstrap), 0, 0, false, NULL,
     "found a new cluster: an empty data dir votes at once (first start only)"},
    {"join", OPT_JOIN, SC(join_addr), 0, 0, false, "HOST:PORT",
     "a new node joining a running cluster (a member's peer address) instead of --peers"},
    {"heartbeat-ms", OPT_U32, NODE(heartbeat_ms), 1, 60000, true, "MS", "leader heartbeat period"},
    {"election-timeout-min-ms", OPT_U32, NODE(election_timeout_min_ms), 1, 600000, true, "MS",
     "no leader heard this long: elect (randomized from min to max)"},
    {"election-timeout-max-ms", OPT_U32, NODE(election_timeout_max_ms), 1, 600000, true, "MS",
     "upper end of the randomized election timeout"},
    {"lease-ms", OPT_U32, NODE(lease_ms), 0, 600000, true, "MS", "leader lease length"},
    {"drift-ms", OPT_U32, NODE(clock_drift_ms), 0, 600000, true, "MS",
     "bound on clock drift over a lease"},
    {"backoff-min-ms", OPT_U32, NODE(backoff_min_ms), 1, 600000, true, "MS",
     "first wait after a lost election"},
    {"backoff-max-ms", OPT_U32, NODE(backoff_max_ms), 1, 600000, true, "MS",
     "longest wait after lost elections"},
    {"retransmit-ms", OPT_U32, NODE(retransmit_ms), 1, 600000, true, "MS",
     "resend unanswered Prepare/Accept after"},
    {"window-slots", OPT_U32, NODE(window_slots), 1, WINDOW_SLOTS_MAX, true, "N",
     "slots in flight"},
    {"batch-commands", OPT_U32, NODE(batch_commands), 1, BATCH_COMMANDS_MAX, true, "N",
     "commands per slot"},
    {"batch-bytes", OPT_U32, NODE(batch_bytes), 1, BATCH_BYTES_MAX, true, "N", "bytes per slot"},
    {"pending-commands-max", OPT_U32, NODE(pending_commands_max), 1, PENDING_COMMANDS_MAX, true,
     "N", "commands queued at the leader before -BUSY"},
    {"seed", OPT_U64, NODE(seed), 0, UINT64_MAX, true, "N",
     "election randomness (default: random)"},
    {"key-bytes-max", OPT_U32, SC(key_bytes_max), 1, KV_KEY_BYTES_MAX, false, "N", "largest key"},
    {"value-bytes-max", OPT_U32, SC(value_bytes_max), 0, KV_VALUE_BYTES_MAX, false, "N",
     "largest value"},
    {"request-timeout-ms", OPT_U32, SC(request_timeout_ms), 1, 3600000, false, "MS",
     "a request not answered by then gets -TIMEOUT"},
    {"max-clients", OPT_U32, SC(max_clients), 1, CONFIG_MAX_CLIENTS_MAX, false, "N",
     "client connections; more are refused"},
    {"pipeline-max", OPT_U32, SC(pipeline_max), 1, CONFIG_PIPELINE_MAX_MAX, false, "N",
     "requests in flight per connection before reading pauses"},
    {"client-output-max-bytes", OPT_U64, SC(client_output_bytes_max), 4096, (uint64_t)1 << 34,
     false, "N", "unread replies before a client is disconnected"},
    {"peer-output-max-bytes", OPT_U64, SC(peer_output_bytes_max), 16u * 1024u * 1024u,
     (uint64_t)1 << 34, false, "N", "unsent peer bytes before the link is reset"},
    {"client-idle-timeout-ms", OPT_U32, SC(client_idle_timeout_ms), 0, 86400000, false, "MS",
     "close a client that sent nothing this long (0: never)"},
    {"input-timeout-ms", OPT_U32, SC(input_timeout_ms), 100, 3600000, false, "MS",
     "close a client or peer whose request or frame stays incomplete this long"},
    {"buffer-bytes-max", OPT_U64, SC(buffer_bytes_max), CONFIG_BUFFER_BYTES_MIN, (uint64_t)1 << 40,
     false, "N", "bytes held for client input and output and peer input, all together"},
    {"reconnect-min-ms", OPT_U32, SC(reconnect_min_ms), 1, 600000, false, "MS",
     "first redial delay to a lost peer"},
    {"reconnect-max-ms", OPT_U32, SC(reconnect_max_ms), 1, 600000, false, "MS",
     "longest redial delay"},
    {"snapshot-every-slots", OPT_U64, SC(snapshot_every_slots), 0, UINT64_MAX, false, "N",
     "snapshot after this many applied slots (0: off)"},
    {"snapshot-every-bytes", OPT_U64, SC(snapshot_every_bytes), 0, UINT64_MAX, false, "N",
     "snapshot after this many applied command bytes (0: off)"},
    {"snapshot-log-keep-slots", OPT_U64, SC(snapshot_log_keep_slots), 0, UINT64_MAX, false, "N",
     "log slots kept in memory below a snapshot for lagging peers"},
    {"peer-key-file", OPT_PATH, SC(peer_key_file), 0, 0, false, "FILE",
     "this node's pairwise peer keys (ballot keygen): TLS 1.3 PSK between nodes"},
    {"peer-cert", OPT_PATH, SC(peer_cert), 0, 0, false, "FILE",
     "X.509 peer TLS: this node's certificate (names ballot-node-ID)"},
    {"peer-key", OPT_PATH, SC(peer_key), 0, 0, false, "FILE", "X.509 peer TLS: its private key"},
    {"peer-ca", OPT_PATH, SC(peer_ca), 0, 0, false, "FILE",
     "X.509 peer TLS: the CA that signs every node's certificate"},
    {"peer-insecure", OPT_FLAG, SC(peer_insecure), 0, 0, false, NULL,
     "peers talk plain TCP with no authentication (testing only)"},
    {"client-tls-cert", OPT_PATH, SC(client_tls_cert), 0, 0, false, "FILE",
     "serve clients over TLS with this certificate"},
    {"client-tls-key", OPT_PATH, SC(client_tls_key), 0, 0, false, "FILE",
     "the client TLS certificate's private key"},
    {"client-tls-ca", OPT_PATH, SC(client_tls_ca), 0, 0, false, "FILE",
     "require client certificates signed by this CA"},
    {"handshake-timeout-ms", OPT_U32, SC(handshake_timeout_ms), 100, 600000, false, "MS",
     "a connection that has not finished its TLS handshake (and HELLO) by then is closed"},
    {"handshake-max", OPT_U32, SC(handshake_max), 1, CONFIG_HANDSHAKE_MAX_MAX, false, "N",
     "connections in handshake per listener; more are closed on accept"},
    {"log-level", OPT_LEVEL, SC(log_level), 0, 0, false, "LEVEL",
     "error, warn, info (default) or debug"},
    {"users-file", OPT_PATH, SC(users_file), 0, 0, false, "FILE",
     "client users and their permissions (docs/security.md); every client must AUTH"},
    {"protected-mode", OPT_YESNO, SC(protected_mode), 0, 0, false, "yes|no",
     "without users (or with a `default` user without password) accept clients only from "
     "loopback (default yes)"},
    {"metrics-addr", OPT_ADDR, SC(metrics_addr), 0, 0, false, "HOST:PORT",
     "serve Prometheus /metrics and /health over HTTP (docs/metrics.md)"},
    {"health-lag-slots", OPT_U64, SC(health_lag_slots), 0, UINT64_MAX, false, "N",
     "/health answers 503 when this node's applied index lags the commit by more"},
    {"slowlog-slower-than-us", OPT_U64, SC(slowlog_slower_than_us), 0, UINT64_MAX, false, "US",
     "SLOWLOG keeps requests that took at least this long"},
    {"slowlog-max-len", OPT_U32, SC(slowlog_max_len), 0, CONFIG_SLOWLOG_MAX_LEN_MAX, false, "N",
     "SLOWLOG entries kept"},
    {"cluster-enabled", OPT_YESNO, SC(cluster_enabled), 0, 0, false, "yes|no",
     "Redis Cluster mode: followers answer key commands -MOVED to the leader (default no)"},
    {"trace", OPT_PATH, SC(trace_path), 0, 0, false, "FILE", "write protocol events"},
    {"config", OPT_CONFIG, 0, 0, 0, false, "FILE", "read `key = value` lines first"},
    {"help", OPT_HELP, 0, 0, 0, false, NULL, "this text"},
    {"version", OPT_VERSION, 0, 0, 0, false, NULL, "print the version"},
};
#define CONFIG_OPT_COUNT (sizeof(config_opts) / sizeof(config_opts[0]))

typedef struct config_parse_state {
    server_config_t *cfg;
    bool set[CONFIG_OPT_COUNT];
    char *err;
    size_t err_bytes;
    const char *where; /* "--flag" or "file:line" context for messages */
    char flag[CONFIG_NAME_BYTES_MAX + 2];
} config_parse_state_t;

static const opt_t *config_find(const char *name, size_t *index)
{
    for (size_t i = 0; i < CONFIG_OPT_COUNT; i++) {
        if (strcmp(config_opts[i].name, name) == 0) {
            *index = i;
            return &config_opts[i];
        }
    }
    return NULL;
}

static bool config_parse_u64(const char *text, uint64_t *out)
{
    if (text[0] == '\0' || text[0] == '-' || text[0] == '+' || text[0] == ' ') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    int base = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? 16 : 10;
    unsigned long long v = strtoull(text, &end, base);
    if (errno != 0 || end == text || *end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* "1=127.0.0.1:7381,2=..." into addrs/set by id. */
static bool config_parse_id_list(config_parse_state_t *st, const char *text, net_addr_t *addrs,
                                 bool *set)
{
    char copy[CONFIG_LINE_BYTES_MAX];
    if (strlen(text) >= sizeof(copy)) {
        snprintf(st->err, st->err_bytes, "%s: list too long", st->where);
        return false;
    }
    strcpy(copy, text);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        uint64_t id = 0;
        if (eq == NULL) {
            snprintf(st->err, st->err_bytes, "%s: '%s' is not ID=HOST:PORT", st->where, item);
            return false;
        }
        *eq = '\0';
        if (!config_parse_u64(item, &id) || id < 1 || id > NODES_MAX) {
            snprintf(st->err, st->err_bytes, "%s: node id '%s' is not 1..%u", st->where, item,
                     NODES_MAX);
            return false;
        }
        if (set[id]) {
            snprintf(st->err, st->err_bytes, "%s: node %u named twice", st->where, (unsigned)id);
            return false;
        }
        char msg[CONFIG_ERROR_BYTES];
        if (net_addr_parse(eq + 1, &addrs[id], msg, sizeof(msg)) != 0) {
            snprintf(st->err, st->err_bytes, "%s: %s", st->where, msg);
            return false;
        }
        set[id] = true;
    }
    return true;
}

static config_result_t config_apply_file(config_parse_state_t *st, const char *path);

static config_result_t config_apply_number(config_parse_state_t *st, const opt_t *opt,
                                           const char *value)
{
    uint8_t *base = (uint8_t *)st->cfg;
    uint64_t number = 0;
    if (!config_parse_u64(value, &number) || number < opt->min || number > opt->max) {
        snprintf(st->err, st->err_bytes, "%s: '%s' is not a number in %llu..%llu", st->where, value,
                 (unsigned long long)opt->min, (unsigned long long)opt->max);
        return CONFIG_ERROR;
    }
    if (opt->kind == OPT_U32) {
        uint32_t v32 = (uint32_t)number;
        memcpy(base + opt->offset, &v32, sizeof(v32));
    } else {
        memcpy(base + opt->offset, &number, sizeof(number));
    }
    return CONFIG_OK;
}

static config_result_t config_apply(config_parse_state_t *st, size_t index, const char *value)
{
    const opt_t *opt = &config_opts[index];
    uint8_t *base = (uint8_t *)st->cfg;
    uint64_t number = 0;
    char msg[CONFIG_ERROR_BYTES];
    st->set[index] = true;
    switch (opt->kind) {
    case OPT_U32:
    case OPT_U64:
        return config_apply_number(st, opt, value);
    case OPT_CLUSTER_ID:
        if (!config_parse_u64(value, &number)) {
            snprintf(st->err, st->err_bytes, "%s: '%s' is not a number", st->where, value);
            return CONFIG_ERROR;
        }
        st->cfg->cluster_id = number;
        return CONFIG_OK;
    case OPT_PATH:
        if (value[0] == '\0' || strlen(value) >= CONFIG_PATH_BYTES_MAX) {
            snprintf(st->err, st->err_bytes, "%s: path is empty or too long", st->where);
            return CONFIG_ERROR;
        }
        strcpy((char *)(base + opt->offset), value);
        return CONFIG_OK;
    case OPT_ADDR:
        if (net_addr_parse(value, (net_addr_t *)(base + opt->offset), msg, sizeof(msg)) != 0) {
            snprintf(st->err, st->err_bytes, "%s: %s", st->where, msg);
            return CONFIG_ERROR;
        }
        if (opt->offset == SC(peer_addr)) {
            st->cfg->peer_addr_set = true;
        } else if (opt->offset == SC(metrics_addr)) {
            st->cfg->metrics_addr_set = true;
        }
        return CONFIG_OK;
    case OPT_JOIN:
        if (net_addr_parse(value, &st->cfg->join_addr, msg, sizeof(msg)) != 0) {
            snprintf(st->err, st->err_bytes, "%s: %s", st->where, msg);
            return CONFIG_ERROR;
        }
        st->cfg->join = true;
        return CONFIG_OK;
    case OPT_PEERS:
        return config_parse_id_list(st, value, st->cfg->peers, st->cfg->peer_set) ? CONFIG_OK
                                                                                  : CONFIG_ERROR;
    case OPT_PEER_CLIENTS:
        return config_parse_id_list(st, value, st->cfg->peer_clients, st->cfg->peer_client_set)
                   ? CONFIG_OK
                   : CONFIG_ERROR;
    case OPT_FLAG:
    case OPT_YESNO:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0) {
            *(bool *)(base + opt->offset) = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "0") == 0) {
            *(bool *)(base + opt->offset) = false;
        } else {
            snprintf(st->err, st->err_bytes, "%s: '%s' is not true or false", st->where, value);
            return CONFIG_ERROR;
        }
        return CONFIG_OK;
    case OPT_LEVEL:
        if (!log_level_parse(value, &st->cfg->log_level)) {
            snprintf(st->err, st->err_bytes, "%s: '%s' is not error, warn, info or debug",
                     st->where, value);
            return CONFIG_ERROR;
        }
        return CONFIG_OK;
    case OPT_CONFIG:
        return config_apply_file(st, value);
    case OPT_HELP:
        return CONFIG_HELP;
    case OPT_VERSION:
        return CONFIG_VERSION;
    }
    return CONFIG_ERROR;
}

static char *config_trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

/* One `key = value` line of a config file; blank lines and '#' comments are skipped. */
static config_result_t config_file_line(config_parse_state_t *st, char *line)
{
    char *text = config_trim(line);
    if (text[0] == '\0' || text[0] == '#') {
        return CONFIG_OK;
    }
    char *eq = strchr(text, '=');
    if (eq == NULL) {
        snprintf(st->err, st->err_bytes, "%s: expected `key = value`", st->where);
        return CONFIG_ERROR;
    }
    *eq = '\0';
    char *key = config_trim(text);
    char *value = config_trim(eq + 1);
    size_t index = 0;
    const opt_t *opt = config_find(key, &index);
    if (opt == NULL || opt->kind == OPT_CONFIG || opt->kind == OPT_HELP ||
        opt->kind == OPT_VERSION) {
        snprintf(st->err, st->err_bytes, "%s: unknown key '%s'", st->where, key);
        return CONFIG_ERROR;
    }
    return config_apply(st, index, value);
}

static config_result_t config_apply_file(config_parse_state_t *st, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(st->err, st->err_bytes, "--config: cannot open '%s': %s", path, strerror(errno));
        return CONFIG_ERROR;
    }
    char line[CONFIG_LINE_BYTES_MAX];
    char where[CONFIG_PATH_BYTES_MAX + 32];
    const char *outer = st->where;
    config_result_t rc = CONFIG_OK;
    for (uint32_t number = 1; rc == CONFIG_OK && fgets(line, sizeof(line), f) != NULL; number++) {
        snprintf(where, sizeof(where), "%s:%u", path, number);
        st->where = where;
        if (number > CONFIG_FILE_LINES_MAX || (strchr(line, '\n') == NULL && !feof(f))) {
            snprintf(st->err, st->err_bytes, "%s: line too long or file too large", where);
            rc = CONFIG_ERROR;
            break;
        }
        rc = config_file_line(st, line);
    }
    st->where = outer;
    fclose(f);
    return rc;
}

static void config_defaults(server_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cluster_id = 1;
    cfg->log_level = LOG_INFO;
    cfg->key_bytes_max = KV_KEY_BYTES_MAX_DEFAULT;
    cfg->value_bytes_max = KV_VALUE_BYTES_MAX_DEFAULT;
    cfg->request_timeout_ms = CONFIG_REQUEST_TIMEOUT_MS_DEFAULT;
    cfg->max_clients = CONFIG_MAX_CLIENTS_DEFAULT;
    cfg->health_lag_slots = CONFIG_HEALTH_LAG_SLOTS_DEFAULT;
    cfg->slowlog_slower_than_us = CONFIG_SLOWLOG_SLOWER_THAN_US_DEFAULT;
    cfg->slowlog_max_len = CONFIG_SLOWLOG_MAX_LEN_DEFAULT;
    cfg->pipeline_max = CONFIG_PIPELINE_MAX_DEFAULT;
    cfg->client_output_bytes_max = CONFIG_CLIENT_OUTPUT_BYTES_DEFAULT;
    cfg->peer_output_bytes_max = CONFIG_PEER_OUTPUT_BYTES_DEFAULT;
    cfg->client_idle_timeout_ms = CONFIG_CLIENT_IDLE_TIMEOUT_MS_DEFAULT;
    cfg->input_timeout_ms = CONFIG_INPUT_TIMEOUT_MS_DEFAULT;
    cfg->buffer_bytes_max = CONFIG_BUFFER_BYTES_DEFAULT;
    cfg->reconnect_min_ms = CONFIG_RECONNECT_MIN_MS_DEFAULT;
    cfg->reconnect_max_ms = CONFIG_RECONNECT_MAX_MS_DEFAULT;
    cfg->snapshot_every_slots = CONFIG_SNAPSHOT_SLOTS_DEFAULT;
    cfg->snapshot_every_bytes = CONFIG_SNAPSHOT_BYTES_DEFAULT;
    cfg->snapshot_log_keep_slots = CONFIG_SNAPSHOT_LOG_KEEP_SLOTS_DEFAULT;
    cfg->protected_mode = true;
    cfg->handshake_timeout_ms = CONFIG_HANDSHAKE_TIMEOUT_MS_DEFAULT;
    cfg->handshake_max = CONFIG_HANDSHAKE_MAX_DEFAULT;
}

/* Exactly one way to authenticate peers, and the TLS files that go together. */
static bool config_check_tls(const server_config_t *cfg, char *err, size_t err_bytes)
{
    bool psk = cfg->peer_key_file[0] != '\0';
    bool any_x509 =
        cfg->peer_cert[0] != '\0' || cfg->peer_key[0] != '\0' || cfg->peer_ca[0] != '\0';
    bool x509 = cfg->peer_cert[0] != '\0' && cfg->peer_key[0] != '\0' && cfg->peer_ca[0] != '\0';
    if (any_x509 && !x509) {
        snprintf(err, err_bytes,
                 "X.509 peer TLS needs all of --peer-cert, --peer-key and --peer-ca");
        return false;
    }
    int modes = (psk ? 1 : 0) + (x509 ? 1 : 0) + (cfg->peer_insecure ? 1 : 0);
    if (modes > 1) {
        snprintf(err, err_bytes,
                 "choose one of --peer-key-file, --peer-cert/--peer-key/--peer-ca and "
                 "--peer-insecure");
        return false;
    }
    if (modes == 0 && (cfg->node_count > 1 || cfg->join)) {
        snprintf(err, err_bytes,
                 "peers must authenticate: give --peer-key-file FILE (make one with `ballot "
                 "keygen`), or --peer-cert, --peer-key and --peer-ca, or --peer-insecure to run "
                 "without authentication (docs/security.md)");
        return false;
    }
    bool cert = cfg->client_tls_cert[0] != '\0';
    bool key = cfg->client_tls_key[0] != '\0';
    if (cert != key) {
        snprintf(err, err_bytes, "client TLS needs both --client-tls-cert and --client-tls-key");
        return false;
    }
    if (cfg->client_tls_ca[0] != '\0' && !cert) {
        snprintf(err, err_bytes, "--client-tls-ca needs --client-tls-cert and --client-tls-key");
        return false;
    }
    return true;
}

static bool config_same_addr(const net_addr_t *a, const net_addr_t *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* A node joining with --join: its own --peer address, no --peers (the membership comes
 * from the cluster). */
static bool config_check_join(server_config_t *cfg, bool any_peers, char *err, size_t err_bytes)
{
    if (any_peers) {
        snprintf(err, err_bytes,
                 "--join and --peers exclude each other: a joining node learns the members "
                 "from the cluster");
        return false;
    }
    if (!cfg->peer_addr_set) {
        snprintf(err, err_bytes, "--join needs --peer HOST:PORT, this node's own peer address");
        return false;
    }
    if (cfg->bootstrap || cfg->rejoin) {
        snprintf(err, err_bytes,
                 "--join starts a new member from an empty data directory; it goes without "
                 "--bootstrap and --rejoin (a joined node that lost its disk is replaced by a "
                 "new one: docs/operations.md)");
        return false;
    }
    if (config_same_addr(&cfg->join_addr, &cfg->peer_addr)) {
        snprintf(err, err_bytes, "--join names this node's own --peer address");
        return false;
    }
    cfg->peers[cfg->id] = cfg->peer_addr;
    cfg->peer_set[cfg->id] = true;
    cfg->node_count = 0;
    return true;
}

/* Node ids must be exactly 1..n with n in {1, 3, 5, 7} (docs/core.md). */
static bool config_check_cluster(server_config_t *cfg, char *err, size_t err_bytes)
{
    uint32_t id = cfg->id;
    bool any = false;
    for (uint32_t i = 1; i <= NODES_MAX; i++) {
        any = any || cfg->peer_set[i];
    }
    if (cfg->join) {
        return config_check_join(cfg, any, err, err_bytes);
    }
    if (!any) {
        cfg->peer_set[id] = true;
        cfg->peers[id] = cfg->peer_addr;
    } else if (!cfg->peer_set[id]) {
        if (!cfg->peer_addr_set) {
            snprintf(err, err_bytes, "--peers does not name node %u and --peer is not given", id);
            return false;
        }
        cfg->peers[id] = cfg->peer_addr;
        cfg->peer_set[id] = true;
    } else if (cfg->peer_addr_set && !config_same_addr(&cfg->peers[id], &cfg->peer_addr)) {
        snprintf(err, err_bytes, "--peer %s:%u differs from node %u's entry in --peers",
                 cfg->peer_addr.host, (unsigned)cfg->peer_addr.port, id);
        return false;
    } else {
        cfg->peer_addr = cfg->peers[id];
    }
    uint32_t count = 0;
    for (uint32_t i = 1; i <= NODES_MAX; i++) {
        count += cfg->peer_set[i] ? 1u : 0u;
    }
    for (uint32_t i = 1; i <= count; i++) {
        if (!cfg->peer_set[i]) {
            snprintf(err, err_bytes, "--peers: node ids must be 1..%u; %u is missing", count, i);
            return false;
        }
    }
    if (count != 1 && count != 3 && count != 5 && count != 7) {
        snprintf(err, err_bytes, "a cluster has 1, 3, 5 or 7 nodes, not %u", count);
        return false;
    }
    if (id > count) {
        snprintf(err, err_bytes, "--id %u is not in 1..%u", id, count);
        return false;
    }
    cfg->node_count = count;
    cfg->peer_addr_set = count > 1 || cfg->peer_addr_set || any;
    return true;
}

static uint64_t config_random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
        seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    }
    return seed;
}

/* Node options the user did not give take node_config_default()'s value. */
static void config_merge_node(config_parse_state_t *st)
{
    server_config_t *cfg = st->cfg;
    node_config_t defaults;
    node_config_default(&defaults, cfg->id, cfg->node_count);
    defaults.seed = config_random_seed();
    /* Followers learn that a slot was chosen from the leader's next Accept or heartbeat, so
     * a write forwarded by a follower waits up to one heartbeat interval: ballotd beats
     * more often than the core's default. */
    if (defaults.heartbeat_ms > CONFIG_HEARTBEAT_MS_DEFAULT) {
        defaults.heartbeat_ms = CONFIG_HEARTBEAT_MS_DEFAULT;
    }
    /* The leader proposes a slot as soon as the window has room, so a wide window spends a
     * slot (a WAL record, an Accept and an Accepted per peer: syscalls and wakeups) on
     * almost every command. With two slots in flight, every command that arrives during a
     * round goes into one batch in the next: docs/performance.md measures both. */
    if (defaults.window_slots > CONFIG_WINDOW_SLOTS_DEFAULT) {
        defaults.window_slots = CONFIG_WINDOW_SLOTS_DEFAULT;
    }
    uint8_t *dst = (uint8_t *)cfg;
    const uint8_t *src = (const uint8_t *)&defaults;
    for (size_t i = 0; i < CONFIG_OPT_COUNT; i++) {
        const opt_t *opt = &config_opts[i];
        if (!opt->in_node || st->set[i]) {
            continue;
        }
        size_t field = opt->offset - SC(node);
        size_t size = opt->kind == OPT_U32 ? sizeof(uint32_t) : sizeof(uint64_t);
        memcpy(dst + opt->offset, src + field, size);
    }
    cfg->node.id = cfg->id;
    cfg->node.node_count = cfg->node_count;
    cfg->node.forward_to_leader = true;
    cfg->node.trace = true; /* the ring keeps the last events always */
}

static bool config_was_set(const config_parse_state_t *st, const char *name)
{
    size_t index = 0;
    return config_find(name, &index) != NULL && st->set[index];
}

/* The users file is read here so that a bad one stops ballotd before anything starts. */
static bool config_load_users(server_config_t *cfg, char *err, size_t err_bytes)
{
    if (cfg->users_file[0] == '\0') {
        cfg->acl = acl_open();
        return true;
    }
    char msg[ACL_ERROR_BYTES + CONFIG_PATH_BYTES_MAX];
    if (acl_load_file(cfg->users_file, &cfg->acl, msg, sizeof(msg)) != 0) {
        cfg->acl = NULL;
        snprintf(err, err_bytes, "--users-file: %s", msg);
        return false;
    }
    return true;
}

void config_release(server_config_t *cfg)
{
    acl_free(cfg->acl);
    cfg->acl = NULL;
}

static bool config_check(config_parse_state_t *st)
{
    server_config_t *cfg = st->cfg;
    char *err = st->err;
    size_t err_bytes = st->err_bytes;
    if (!config_was_set(st, "id")) {
        snprintf(err, err_bytes, "--id is required");
        return false;
    }
    if (cfg->data_dir[0] == '\0') {
        snprintf(err, err_bytes, "--data-dir is required");
        return false;
    }
    if (!config_was_set(st, "client")) {
        snprintf(err, err_bytes, "--client HOST:PORT is required");
        return false;
    }
    if (cfg->bootstrap && cfg->rejoin) {
        snprintf(err, err_bytes,
                 "--bootstrap founds a new cluster and --rejoin catches up with "
                 "an existing one: give one of them");
        return false;
    }
    if (!config_check_cluster(cfg, err, err_bytes)) {
        return false;
    }
    if ((cfg->node_count != 1 || cfg->peer_addr_set) &&
        config_same_addr(&cfg->client_addr, &cfg->peer_addr)) {
        snprintf(err, err_bytes, "--client and --peer must differ");
        return false;
    }
    if (cfg->metrics_addr_set &&
        (config_same_addr(&cfg->metrics_addr, &cfg->client_addr) ||
         (cfg->node_count > 1 && config_same_addr(&cfg->metrics_addr, &cfg->peer_addr)))) {
        snprintf(err, err_bytes, "--metrics-addr must differ from --client and --peer");
        return false;
    }
    if (cfg->reconnect_min_ms > cfg->reconnect_max_ms) {
        snprintf(err, err_bytes, "--reconnect-min-ms is above --reconnect-max-ms");
        return false;
    }
    if (!config_check_tls(cfg, err, err_bytes)) {
        return false;
    }
    /* One founding node with --peer and a way to authenticate peers listens for peers, so
     * that members can be added to it (docs/operations.md "Adding a node"). */
    bool auth = cfg->peer_insecure || cfg->peer_key_file[0] != '\0' || cfg->peer_cert[0] != '\0';
    cfg->peer_listen = cfg->node_count != 1 || (cfg->peer_addr_set && auth);
    config_merge_node(st);
    char msg[CONFIG_ERROR_BYTES];
    if (node_config_check(&cfg->node, msg, sizeof(msg)) != 0) {
        snprintf(err, err_bytes, "protocol settings: %s", msg);
        return false;
    }
    kv_config_t kv;
    kv_config_default(&kv);
    kv.key_bytes_max = cfg->key_bytes_max;
    kv.value_bytes_max = cfg->value_bytes_max;
    if (kv_config_check(&kv, msg, sizeof(msg)) != 0) {
        snprintf(err, err_bytes, "key-value limits: %s", msg);
        return false;
    }
    return config_load_users(cfg, err, err_bytes);
}

/* --config first, wherever it stands, so that flags override the file. */
static config_result_t config_parse_files(config_parse_state_t *st, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            st->where = "--config";
            size_t index = 0;
            config_find("config", &index);
            config_result_t rc = config_apply(st, index, argv[i + 1]);
            if (rc != CONFIG_OK) {
                return rc;
            }
            i++;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            st->where = "--config";
            config_result_t rc = config_apply_file(st, argv[i] + 9);
            if (rc != CONFIG_OK) {
                return rc;
            }
        }
    }
    return CONFIG_OK;
}

static config_result_t config_parse_flag(config_parse_state_t *st, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    char name[CONFIG_NAME_BYTES_MAX];
    const char *inline_value = NULL;
    if (strncmp(arg, "--", 2) != 0) {
        snprintf(st->err, st->err_bytes, "unexpected argument '%s' (flags start with --)", arg);
        return CONFIG_ERROR;
    }
    const char *eq = strchr(arg, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (name_len == 0 || name_len >= sizeof(name)) {
        snprintf(st->err, st->err_bytes, "unknown flag '%s'", arg);
        return CONFIG_ERROR;
    }
    memcpy(name, arg + 2, name_len);
    name[name_len] = '\0';
    inline_value = eq != NULL ? eq + 1 : NULL;
    size_t index = 0;
    const opt_t *opt = config_find(name, &index);
    if (opt == NULL) {
        snprintf(st->err, st->err_bytes, "unknown flag '--%s' (see --help)", name);
        return CONFIG_ERROR;
    }
    snprintf(st->flag, sizeof(st->flag), "--%s", opt->name);
    st->where = st->flag;
    if (opt->kind == OPT_FLAG || opt->kind == OPT_HELP || opt->kind == OPT_VERSION) {
        return config_apply(st, index, inline_value != NULL ? inline_value : "true");
    }
    if (inline_value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(st->err, st->err_bytes, "--%s needs a value (%s)", name, opt->arg);
            return CONFIG_ERROR;
        }
        inline_value = argv[++*i];
    }
    if (opt->kind == OPT_CONFIG) {
        return CONFIG_OK; /* already read */
    }
    return config_apply(st, index, inline_value);
}

config_result_t config_parse(server_config_t *cfg, int argc, char **argv, char *err,
                             size_t err_bytes)
{
    config_defaults(cfg);
    config_parse_state_t st = {.cfg = cfg, .err = err, .err_bytes = err_bytes, .where = ""};
    err[0] = '\0';
    if (argc > (int)CONFIG_ARGS_MAX) {
        snprintf(err, err_bytes, "too many arguments");
        return CONFIG_ERROR;
    }
    config_result_t rc = config_parse_files(&st, argc, argv);
    for (int i = 1; rc == CONFIG_OK && i < argc; i++) {
        rc = config_parse_flag(&st, argc, argv, &i);
    }
    if (rc != CONFIG_OK) {
        return rc;
    }
    return config_check(&st) ? CONFIG_OK : CONFIG_ERROR;
}

/* "(default N)" for a numeric option, from the defaults this build starts with. */
static void config_default_text(const opt_t *opt, const server_config_t *defaults, char *buf,
                                size_t buf_bytes)
{
    const uint8_t *base = (const uint8_t *)defaults;
    buf[0] = '\0';
    if (opt->offset == SC(id) && opt->kind == OPT_U32) {
        return; /* required */
    }
    if (opt->kind == OPT_U32 && !(opt->in_node && opt->offset == NODE(seed))) {
        uint32_t v;
        memcpy(&v, base + opt->offset, sizeof(v));
        snprintf(buf, buf_bytes, " (default %u)", v);
    } else if (opt->kind == OPT_U64 && !(opt->in_node && opt->offset == NODE(seed))) {
        uint64_t v;
        memcpy(&v, base + opt->offset, sizeof(v));
        snprintf(buf, buf_bytes, " (default %llu)", (unsigned long long)v);
    }
}

void config_print_usage(const char *program)
{
    static server_config_t defaults;
    config_defaults(&defaults);
    defaults.id = 1;
    defaults.node_count = 3;
    config_parse_state_t st = {.cfg = &defaults};
    config_merge_node(&st);
    printf("usage: %s --id N --data-dir DIR --client HOST:PORT [--peer HOST:PORT]\n"
           "       [--peers ID=HOST:PORT,...] [options]\n\n"
           "One node of a Ballot cluster (Multi-Paxos replicated key-value store).\n"
           "Every flag may also be given as `name = value` in a --config file;\n"
           "flags on the command line win. docs/operations.md explains each.\n\n",
           program);
    for (size_t i = 0; i < CONFIG_OPT_COUNT; i++) {
        const opt_t *opt = &config_opts[i];
        char left[96];
        char def[48];
        snprintf(left, sizeof(left), "--%s%s%s", opt->name, opt->arg != NULL ? " " : "",
                 opt->arg != NULL ? opt->arg : "");
        config_default_text(opt, &defaults, def, sizeof(def));
        printf("  %-34s %s%s\n", left, opt->help != NULL ? opt->help : "", def);
    }
}
