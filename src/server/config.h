/* ballotd's configuration: command-line flags and an optional `key = value` file
 * (docs/operations.md lists every key). Everything is checked before anything starts. */
#ifndef BALLOT_SERVER_CONFIG_H
#define BALLOT_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "core/node.h"
#include "net/net.h"
#include "server/acl.h"
#include "server/log.h"

#define CONFIG_PATH_BYTES_MAX 1024u
#define CONFIG_ERROR_BYTES    512u
#define CONFIG_LINE_BYTES_MAX 4096u
#define CONFIG_FILE_LINES_MAX 10000u
#define CONFIG_ARGS_MAX       1024u
#define CONFIG_NAME_BYTES_MAX 64u

/* Server-side bounds and their defaults. */
#define CONFIG_MAX_CLIENTS_DEFAULT             10000u
#define CONFIG_MAX_CLIENTS_MAX                 100000u
#define CONFIG_PIPELINE_MAX_DEFAULT            1024u
#define CONFIG_PIPELINE_MAX_MAX                65536u
#define CONFIG_CLIENT_OUTPUT_BYTES_DEFAULT     ((uint64_t)64u * 1024u * 1024u)
#define CONFIG_PEER_OUTPUT_BYTES_DEFAULT       ((uint64_t)256u * 1024u * 1024u)
#define CONFIG_REQUEST_TIMEOUT_MS_DEFAULT      5000u
#define CONFIG_SNAPSHOT_SLOTS_DEFAULT          20000u
#define CONFIG_SNAPSHOT_BYTES_DEFAULT          ((uint64_t)64u * 1024u * 1024u)
#define CONFIG_SNAPSHOT_LOG_KEEP_SLOTS_DEFAULT 1000u
#define CONFIG_HEARTBEAT_MS_DEFAULT            20u
#define CONFIG_WINDOW_SLOTS_DEFAULT            2u
#define CONFIG_RECONNECT_MIN_MS_DEFAULT        50u
#define CONFIG_RECONNECT_MAX_MS_DEFAULT        2000u
#define CONFIG_HANDSHAKE_TIMEOUT_MS_DEFAULT    5000u
#define CONFIG_HANDSHAKE_MAX_DEFAULT           64u
#define CONFIG_HANDSHAKE_MAX_MAX               10000u
/* Bounds on what clients and peers make the node hold (docs/operations.md "Bounds"). */
#define CONFIG_CLIENT_IDLE_TIMEOUT_MS_DEFAULT 300000u
#define CONFIG_INPUT_TIMEOUT_MS_DEFAULT       15000u
#define CONFIG_BUFFER_BYTES_DEFAULT           ((uint64_t)512u * 1024u * 1024u)
#define CONFIG_BUFFER_BYTES_MIN               ((uint64_t)32u * 1024u * 1024u)
/* Metrics and health (docs/metrics.md). */
#define CONFIG_HEALTH_LAG_SLOTS_DEFAULT       1000u
#define CONFIG_SLOWLOG_SLOWER_THAN_US_DEFAULT 10000u
#define CONFIG_SLOWLOG_MAX_LEN_DEFAULT        128u
#define CONFIG_SLOWLOG_MAX_LEN_MAX            10000u
/* A client idle this long may be closed to make room when --max-clients is reached. */
#define CONFIG_EVICT_IDLE_MS_MIN 1000u

typedef struct server_config {
    uint32_t id;
    char data_dir[CONFIG_PATH_BYTES_MAX];
    net_addr_t client_addr; /* --client: RESP listener */
    net_addr_t peer_addr;   /* --peer: this node's peer listener */
    bool peer_addr_set;
    uint32_t node_count;
    net_addr_t peers[NODES_MAX + 1]; /* by node id; [id] is this node's own peer address */
    bool peer_set[NODES_MAX + 1];
    net_addr_t peer_clients[NODES_MAX + 1]; /* --peer-clients: RESP address by node id */
    bool peer_client_set[NODES_MAX + 1];
    uint64_t cluster_id;
    node_config_t node;
    uint32_t key_bytes_max;
    uint32_t value_bytes_max;
    bool rejoin;
    bool bootstrap; /* --bootstrap: an empty data dir is a founding member */
    /* --join HOST:PORT: a new node joining a running cluster (a member's peer address); the
     * node knows no membership (node.node_count = 0) until it learns it from the log. */
    bool join;
    net_addr_t join_addr;
    bool peer_listen; /* has a peer listener: several founders, --join, or --peer with auth */
    log_level_t log_level;
    char trace_path[CONFIG_PATH_BYTES_MAX];
    uint32_t request_timeout_ms;
    uint32_t max_clients;
    uint32_t pipeline_max;
    uint64_t client_output_bytes_max;
    uint64_t peer_output_bytes_max;
    uint32_t client_idle_timeout_ms; /* 0: off */
    uint32_t input_timeout_ms;       /* a partial frame or request must complete within */
    uint64_t buffer_bytes_max;       /* client input and output, peer input, all together */
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint64_t snapshot_every_slots; /* 0: never by slot count */
    uint64_t snapshot_every_bytes; /* 0: never by applied bytes */
    uint64_t snapshot_log_keep_slots;
    /* peer authentication (docs/security.md): a key file, or X.509, or explicitly none */
    char peer_key_file[CONFIG_PATH_BYTES_MAX];
    char peer_cert[CONFIG_PATH_BYTES_MAX];
    char peer_key[CONFIG_PATH_BYTES_MAX];
    char peer_ca[CONFIG_PATH_BYTES_MAX];
    bool peer_insecure;
    /* client TLS: on when a certificate is given; client certificates when a CA is */
    char client_tls_cert[CONFIG_PATH_BYTES_MAX];
    char client_tls_key[CONFIG_PATH_BYTES_MAX];
    char client_tls_ca[CONFIG_PATH_BYTES_MAX];
    uint32_t handshake_timeout_ms; /* TLS handshake (and HELLO, for peers) must end by then */
    uint32_t handshake_max;        /* connections in handshake per listener */
    char users_file[CONFIG_PATH_BYTES_MAX]; /* --users-file; "" when none */
    bool protected_mode;                    /* --protected-mode (default yes) */
    acl_t *acl;              /* the users: from --users-file, or the open `default` user */
    net_addr_t metrics_addr; /* --metrics-addr: HTTP /metrics and /health */
    bool metrics_addr_set;
    uint64_t health_lag_slots;       /* /health: 503 when applied lags commit by more */
    uint64_t slowlog_slower_than_us; /* SLOWLOG: requests at least this slow */
    uint32_t slowlog_max_len;        /* SLOWLOG: entries kept */
    bool cluster_enabled;            /* --cluster-enabled: followers answer -MOVED */
} server_config_t;

typedef enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,    /* --help: usage printed to stdout */
    CONFIG_VERSION = 2, /* --version */
    CONFIG_ERROR = 3,   /* err says why */
} config_result_t;

/* Parses argv (argv[0] is the program). Reads --config FILE first, then the flags, so flags
 * override the file. On CONFIG_ERROR err holds one line naming the flag or file:line. */
config_result_t config_parse(server_config_t *cfg, int argc, char **argv, char *err,
                             size_t err_bytes);
void config_print_usage(const char *program);
/* Frees what config_parse() loaded (the users). */
void config_release(server_config_t *cfg);

#endif
