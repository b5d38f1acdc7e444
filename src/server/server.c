/* ballotd's life: check the data directory, recover (snapshot, then WAL), listen, serve,
 * and stop cleanly on SIGTERM/SIGINT or loudly on a fatal error. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "server/log.h"
#include "server/server_internal.h"

#define SERVER_BOOT_FILE   "ballotd.boot"
#define SERVER_REJOIN_FILE "REJOINING"
#define SERVER_LOCK_FILE   "ballotd.lock"
#define SERVER_MSG_BYTES   4096u

uint64_t server_now_ms(void)
{
    return net_now_ms();
}

uint64_t server_wall_offset_ms(void)
{
    static uint64_t offset;
    if (offset == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wall = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        uint64_t mono = net_now_ms();
        offset = wall > mono ? wall - mono : 1u;
    }
    return offset;
}

uint64_t server_wall_ms(void)
{
    return server_now_ms() + server_wall_offset_ms();
}

void server_fatal(server_t *srv, const char *format, ...)
{
    char text[SERVER_MSG_BYTES];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    log_error("fatal: %s; stopping", text);
    if (srv->exit_status == SERVER_EXIT_OK) {
        srv->exit_status = SERVER_EXIT_FATAL;
        log_error("the last %zu of %llu protocol events (trace lines, oldest first):",
                  trace_ring_count(srv->ring), (unsigned long long)trace_ring_total(srv->ring));
        fflush(stderr);
        trace_ring_dump(srv->ring, stderr);
        fflush(stderr);
    }
    srv->stopping = true;
    net_loop_stop(srv->loop);
}

/* ---- the data directory ---- */

static int server_mkdirs(const char *dir, char *msg, size_t msg_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    size_t len = strlen(path);
    /* Bounded by the path's length: one mkdir per separator. */
    for (size_t i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char saved = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                snprintf(msg, msg_bytes, "cannot create %s: %s", path, strerror(errno));
                return BALLOT_EIO;
            }
            path[i] = saved;
        }
    }
    return BALLOT_OK;
}

static int server_lock_dir(const char *dir, int *fd_out, char *msg, size_t msg_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, SERVER_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(msg, msg_bytes, "cannot open %s: %s", path, strerror(errno));
        return BALLOT_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(msg, msg_bytes, "%s is in use by another ballotd", dir);
        close(fd);
        return BALLOT_ESTATE;
    }
    *fd_out = fd;
    return BALLOT_OK;
}

static bool server_file_exists(const char *dir, const char *name)
{
    char path[CONFIG_PATH_BYTES_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The boot number makes client ids unique across restarts: above the last one recorded and
 * at least the wall-clock second, so it also moves on after the directory was wiped. */
static int server_next_boot(server_t *srv, char *msg, size_t msg_bytes)
{
    const char *dir = srv->cfg->data_dir;
    char path[CONFIG_PATH_BYTES_MAX + 32];
    char tmp[CONFIG_PATH_BYTES_MAX + 40];
    snprintf(path, sizeof(path), "%s/%s", dir, SERVER_BOOT_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unsigned long long last = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &last) != 1) {
            last = 0;
        }
        fclose(f);
    }
    uint64_t boot = (uint64_t)time(NULL) & 0xffffffffu;
    if (boot <= last) {
        boot = (last + 1) & 0xffffffffu;
    }
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%llu\n", (unsigned long long)boot) < 0 || fflush(f) != 0 ||
        fdatasync(fileno(f)) != 0) {
        snprintf(msg, msg_bytes, "cannot write %s: %s", tmp, strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        return BALLOT_EIO;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        snprintf(msg, msg_bytes, "cannot rename %s: %s", tmp, strerror(errno));
        return BALLOT_EIO;
    }
    srv->boot_id = boot;
    return BALLOT_OK;
}

/* ---- recovery ---- */

static int server_recover_record(void *ctx, const persist_record_t *record)
{
    server_t *srv = ctx;
    int rc = node_recover(srv->node, record);
    if (rc != BALLOT_OK) {
        log_error("the core refused WAL record kind %d seq %llu slot %llu: %s", (int)record->kind,
                  (unsigned long long)record->seq, (unsigned long long)record->slot,
                  ballot_strerror(rc));
    }
    return rc;
}

static int server_open_wal(server_t *srv, bool create, wal_report_t *report)
{
    wal_options_t options;
    wal_options_default(&options);
    options.create_if_missing = create;
    memset(report, 0, sizeof(*report));
    return wal_open(srv->cfg->data_dir, metrics_storage_io(srv), &options, &srv->wal,
                    server_recover_record, srv, report);
}

/* Creates (durably) or removes the REJOINING marker in the data directory. */
static int server_rejoin_marker(const char *dir, bool present, char *msg, size_t msg_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, SERVER_REJOIN_FILE);
    if (present) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || fsync(fd) != 0) {
            snprintf(msg, msg_bytes, "cannot write %s: %s", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return BALLOT_EIO;
        }
        close(fd);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(msg, msg_bytes, "cannot remove %s: %s", path, strerror(errno));
        return BALLOT_EIO;
    }
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || fsync(dir_fd) != 0) {
        snprintf(msg, msg_bytes, "cannot sync directory %s: %s", dir, strerror(errno));
        if (dir_fd >= 0) {
            close(dir_fd);
        }
        return BALLOT_EIO;
    }
    close(dir_fd);
    return BALLOT_OK;
}

void server_rejoin_progress(server_t *srv)
{
    if (!srv->rejoin_marker) {
        return;
    }
    node_status_t st;
    node_get_status(srv->node, server_now_ms(), &st);
    if (st.rejoining || srv->persisted_reported < srv->last_record_seq) {
        return; /* still reading a majority, or what it adopted is not on disk yet */
    }
    char msg[CONFIG_PATH_BYTES_MAX + 128];
    if (server_rejoin_marker(srv->cfg->data_dir, false, msg, sizeof(msg)) != BALLOT_OK) {
        server_fatal(srv, "%s", msg);
        return;
    }
    srv->rejoin_marker = false;
    log_info("rejoin complete: this node votes again");
}

/* Any WAL segment in dir (a node that ran before has one). */
static int server_wal_seen(void *ctx, const char *name)
{
    (void)ctx;
    return strncmp(name, "wal-", 4) == 0 ? -1 : 0; /* -1: found (errno values are positive) */
}

static bool server_dir_has_wal(const char *dir)
{
    const storage_io_t *io = storage_io_posix();
    return io->list_dir(io->ctx, dir, server_wal_seen, NULL) == -1;
}

static int server_write_identity(server_t *srv, identity_origin_t origin, char *msg,
                                 size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    if (identity_new(&srv->identity, cfg->cluster_id, cfg->id, origin) != BALLOT_OK) {
        snprintf(msg, msg_bytes, "no randomness for this node's incarnation id");
        return BALLOT_EIO;
    }
    int rc = identity_write(cfg->data_dir, &srv->identity, msg, msg_bytes);
    if (rc == BALLOT_OK) {
        log_info("identity: n%u of cluster %llu, incarnation %016llx (%s)", cfg->id,
                 (unsigned long long)cfg->cluster_id, (unsigned long long)srv->identity.incarnation,
                 identity_origin_name(origin));
    }
    return rc;
}

/* Reads IDENTITY and PEERS and checks the directory belongs to this node of this cluster.
 * *found says whether IDENTITY was there. */
static int server_read_identity(server_t *srv, bool *found, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    int rc = identity_read(cfg->data_dir, &srv->identity, found, msg, msg_bytes);
    if (rc == BALLOT_ECORRUPT && cfg->rejoin) {
        log_warn("%s; --rejoin writes a new one", msg);
        *found = false;
        rc = BALLOT_OK;
    } else if (rc == BALLOT_ECORRUPT) {
        size_t used = strlen(msg);
        snprintf(msg + used, msg_bytes - used, "; restart with --rejoin to rebuild this node");
    }
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (*found &&
        (srv->identity.node_id != cfg->id || srv->identity.cluster_id != cfg->cluster_id)) {
        snprintf(msg, msg_bytes,
                 "%s belongs to node %u of cluster %llu, but this is --id %u --cluster-id %llu: "
                 "wrong --data-dir?",
                 cfg->data_dir, srv->identity.node_id, (unsigned long long)srv->identity.cluster_id,
                 cfg->id, (unsigned long long)cfg->cluster_id);
        return BALLOT_EINVAL;
    }
    rc = identity_peers_read(cfg->data_dir, srv->peer_incarnations, msg, msg_bytes);
    if (rc == BALLOT_ECORRUPT) {
        /* Only a guard against founders that lost their disk: start without it, loudly. */
        log_warn("%s; starting without the record of peers' incarnations", msg);
        memset(srv->peer_incarnations, 0, sizeof(srv->peer_incarnations));
        rc = BALLOT_OK;
    }
    return rc;
}

/* The acceptor's memory: refuse to start on a damaged or missing WAL (a node that ran
 * before must not forget its promises) unless --rejoin says the operator knows. A rejoin
 * that did not finish (the marker is still there) is started again. An empty data
 * directory votes at once only when founding a cluster (--bootstrap); otherwise it
 * rejoins (docs/operations.md "Bootstrap and node identity"). */
static int server_recover(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    bool have_identity = false;
    int rc = server_read_identity(srv, &have_identity, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    bool unfinished = server_file_exists(cfg->data_dir, SERVER_REJOIN_FILE);
    srv->rejoin = cfg->rejoin || unfinished;
    if (unfinished && !cfg->rejoin) {
        log_warn("an earlier rejoin did not finish (%s/%s exists): rejoining again", cfg->data_dir,
                 SERVER_REJOIN_FILE);
    }
    members_init(srv);
    bool had_boot = server_file_exists(cfg->data_dir, SERVER_BOOT_FILE);
    bool had_wal = server_dir_has_wal(cfg->data_dir);
    bool snap_found = false;
    rc = snapshots_recover(srv, &snap_found, msg, msg_bytes);
    if (rc != BALLOT_OK && !srv->rejoin) {
        return rc;
    }
    if (rc != BALLOT_OK) {
        log_warn("%s; ignoring snapshots (--rejoin)", msg);
    }
    /* Fresh: never run here. A restored backup is fresh with a snapshot in it. */
    bool fresh = !have_identity && !had_boot && !had_wal;
    bool empty = fresh && !snap_found;
    bool founding = fresh && !srv->rejoin && cfg->bootstrap;
    /* A new member (--join) starts with an empty acceptor: it has promised nothing, so it
     * forgets nothing; it votes once the membership makes it a voter. */
    bool joining = fresh && !srv->rejoin && cfg->join;
    if (fresh && snap_found && cfg->join) {
        snprintf(msg, msg_bytes,
                 "%s holds a snapshot but no WAL and no IDENTITY: a node that joins with --join "
                 "starts from an empty data directory and receives the cluster's state",
                 cfg->data_dir);
        return BALLOT_ECORRUPT;
    }
    if (fresh && snap_found && !founding && !srv->rejoin) {
        snprintf(msg, msg_bytes,
                 "%s holds a snapshot but no WAL and no IDENTITY: a restored backup founds a "
                 "new cluster (start every node of it once with --bootstrap); a node that ran "
                 "before and lost its WAL restarts with --rejoin",
                 cfg->data_dir);
        return BALLOT_ECORRUPT;
    }
    if (have_identity && cfg->bootstrap) {
        log_info("--bootstrap ignored: %s already holds n%u of cluster %llu", cfg->data_dir,
                 cfg->id, (unsigned long long)cfg->cluster_id);
    }
    if (empty && !srv->rejoin && !founding && !joining) {
        log_warn("%s is empty and --bootstrap is not given: this node rejoins its cluster and "
                 "votes only after reading a majority's state. To found a new cluster, start "
                 "each founding node once with --bootstrap",
                 cfg->data_dir);
        srv->rejoin = true;
    }
    wal_report_t report;
    if (srv->rejoin) {
        /* A rejoin starts a new incarnation, unless it resumes one that did not finish. */
        if (!(have_identity && unfinished && !cfg->rejoin &&
              srv->identity.origin == IDENTITY_REJOIN)) {
            rc = server_write_identity(srv, IDENTITY_REJOIN, msg, msg_bytes);
            if (rc != BALLOT_OK) {
                return rc;
            }
        }
        rc = server_rejoin_marker(cfg->data_dir, true, msg, msg_bytes);
        if (rc != BALLOT_OK) {
            return rc;
        }
        srv->rejoin_marker = true;
        rc = wal_discard(cfg->data_dir, storage_io_posix(), msg, msg_bytes);
        if (rc != BALLOT_OK) {
            return rc;
        }
        log_warn("rejoining: old WAL (if any) set aside as *.discarded; this node will not vote "
                 "until it has read a majority's state");
        rc = server_open_wal(srv, true, &report);
        if (rc != BALLOT_OK) {
            snprintf(msg, msg_bytes, "%s", report.message);
        }
        return rc;
    }
    rc = server_open_wal(srv, false, &report);
    if (rc == BALLOT_ESTATE && joining) {
        log_info("--join: new node n%u of cluster %llu; creating its WAL in %s; it takes part "
                 "once a member adds it (BALLOT.MEMBER ADD %u %s:%u)",
                 cfg->id, (unsigned long long)cfg->cluster_id, cfg->data_dir, cfg->id,
                 cfg->peer_addr.host, (unsigned)cfg->peer_addr.port);
        rc = server_open_wal(srv, true, &report);
    } else if (rc == BALLOT_ESTATE && founding) {
        log_info("--bootstrap: founding member n%u of cluster %llu%s; creating its WAL in %s",
                 cfg->id, (unsigned long long)cfg->cluster_id,
                 snap_found ? " from the restored snapshot" : "", cfg->data_dir);
        rc = server_open_wal(srv, true, &report);
    } else if (rc == BALLOT_ESTATE) {
        snprintf(msg, msg_bytes,
                 "%s has no WAL but this node ran before: its promises are lost; restart "
                 "with --rejoin to catch up safely",
                 cfg->data_dir);
        return BALLOT_ECORRUPT;
    }
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "%s%s", report.message,
                 rc == BALLOT_ECORRUPT
                     ? "; restart this node with --rejoin to set the WAL aside and catch up "
                       "from the cluster (docs/operations.md, \"A node refuses to start\")"
                     : "");
        return rc;
    }
    if (!have_identity) {
        /* Founded or joined just now, or a directory from before identities were kept. */
        rc = server_write_identity(srv, joining ? IDENTITY_JOINED : IDENTITY_FOUNDER, msg,
                                   msg_bytes);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    if (report.truncated) {
        log_warn("WAL: %s", report.message);
    }
    log_info("WAL replayed: %u segment(s), %llu record(s)", report.segments,
             (unsigned long long)report.records);
    return BALLOT_OK;
}

/* ---- the storage thread's callbacks (they run on that thread) ---- */

static void server_on_durable(void *ctx, uint64_t durable_seq)
{
    server_t *srv = ctx;
    atomic_store(&srv->durable_seq, durable_seq);
    net_wakeup_send(srv->wakeup);
}

static void server_on_storage_error(void *ctx, int err, const char *message)
{
    server_t *srv = ctx;
    if (atomic_load(&srv->storage_error) != BALLOT_EIO) {
        snprintf(srv->storage_message, sizeof(srv->storage_message), "%s", message);
        atomic_store(&srv->storage_error, err);
    }
    net_wakeup_send(srv->wakeup);
}

static void server_on_wakeup(net_wakeup_t *wakeup, void *user)
{
    (void)wakeup;
    driver_on_durable(user);
}

/* ---- the loop ---- */

void server_pump(server_t *srv)
{
    for (uint32_t round = 0; round < SERVER_PUMP_ROUNDS_MAX && !srv->stopping; round++) {
        driver_process_outputs(srv);
        clients_drain_ready(srv);
        if (!driver_outputs_pending(srv)) {
            break;
        }
    }
    if (srv->stopping) {
        return;
    }
    driver_log_status_changes(srv);
    snapshots_maybe_take(srv);
    driver_arm_node_timer(srv);
}

static void server_hook(net_loop_t *loop, void *user)
{
    (void)loop;
    server_pump(user);
}

static void server_on_node_timer(net_timer_t *timer, void *user)
{
    (void)timer;
    server_t *srv = user;
    srv->node_timer_deadline = 0; /* fired: arm again whatever the next deadline is */
    node_tick(srv->node, server_now_ms());
}

static void server_check_handover(server_t *srv, uint64_t now);

void server_log_refusal(server_t *srv, const char *addr, uint32_t peer_id, int rc)
{
    srv->stat_peer_frames_refused++;
    if (rc == BALLOT_ECONFLICT) {
        srv->stat_peer_conflicts++;
        log_error("peer %s (n%u): %s: refused, never applied; dropping the link (a broken or "
                  "forged member: docs/security.md)",
                  addr, peer_id, node_refusal(srv->node));
        return;
    }
    uint64_t now = server_now_ms();
    if (srv->refusal_logged_ms != 0 && now < srv->refusal_logged_ms + SERVER_REFUSAL_LOG_MS) {
        srv->refusals_unlogged++;
        return;
    }
    log_warn("peer %s (n%u): message refused: %s (%s; %llu more refused since the last line)", addr,
             peer_id, node_refusal(srv->node), ballot_strerror(rc),
             (unsigned long long)srv->refusals_unlogged);
    srv->refusal_logged_ms = now;
    srv->refusals_unlogged = 0;
}

static void server_on_tick(net_timer_t *timer, void *user)
{
    server_t *srv = user;
    uint64_t now = server_now_ms();
    net_loop_guard(srv->loop, now);
    if (srv->handover_until_ms != 0) {
        server_check_handover(srv, now);
    }
    clients_tick(srv, now);
    snapshots_tick(srv, now);
    backup_tick(srv, now);
    members_tick(srv, now);
    net_pending_expire(&srv->peer_pending, now);
    net_pending_expire(&srv->client_pending, now);
    if (srv->trace != NULL && now - srv->trace_flushed_ms >= SERVER_TRACE_FLUSH_MS) {
        srv->trace_flushed_ms = now;
        trace_writer_flush(srv->trace);
    }
    net_timer_arm(timer, SERVER_TICK_MS);
}

static void server_stop_now(server_t *srv)
{
    srv->stopping = true;
    net_loop_stop(srv->loop);
}

/* A leader that is asked to stop first hands leadership to a live peer, so that the
 * cluster does not wait out an election timeout for a planned restart. */
static bool server_start_handover(server_t *srv, uint64_t now)
{
    node_status_t st;
    node_get_status(srv->node, now, &st);
    if (st.role != ROLE_LEADER) {
        return false;
    }
    for (uint32_t k = 1; k < NODES_MAX; k++) {
        uint32_t to = (srv->cfg->id + k - 1) % NODES_MAX + 1;
        if (members_is_voter(srv, to) && srv->peers[to].up &&
            node_transfer_leadership(srv->node, to, now) == BALLOT_OK) {
            log_info("handing leadership to n%u before stopping", to);
            srv->handover_until_ms = now + SERVER_HANDOVER_MS;
            return true;
        }
    }
    return false;
}

static void server_on_signal(net_loop_t *loop, int signum, void *user)
{
    (void)loop;
    server_t *srv = user;
    if (srv->stopping) {
        return;
    }
    if (srv->handover_until_ms != 0) {
        server_stop_now(srv); /* a second signal: stop at once */
        return;
    }
    log_info("%s received: stopping (no new connections; syncing what is queued)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (srv->client_listener != NULL) {
        net_listener_close(srv->client_listener);
        srv->client_listener = NULL;
    }
    if (!server_start_handover(srv, server_now_ms())) {
        server_stop_now(srv);
    }
}

static void server_check_handover(server_t *srv, uint64_t now)
{
    node_status_t st;
    node_get_status(srv->node, now, &st);
    if (now >= srv->handover_until_ms || (st.leader != NODE_NONE && st.leader != srv->cfg->id)) {
        server_stop_now(srv);
    }
}

/* ---- start and stop ---- */

static int server_open_parts(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    int rc = trace_ring_create(&srv->ring, TRACE_RING_EVENTS_DEFAULT);
    if (rc == BALLOT_OK && cfg->trace_path[0] != '\0') {
        rc = trace_writer_open(&srv->trace, cfg->trace_path,
                               cfg->node_count != 0 ? cfg->node_count : NODES_MAX, msg, msg_bytes);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    kv_config_default(&srv->kv_config);
    srv->kv_config.key_bytes_max = cfg->key_bytes_max;
    srv->kv_config.value_bytes_max = cfg->value_bytes_max;
    if (getrandom(&srv->kv_config.hash_seed, sizeof(srv->kv_config.hash_seed), 0) < 0) {
        srv->kv_config.hash_seed = cfg->node.seed;
    }
    if (rc == BALLOT_OK) {
        rc = kv_create(&srv->kv, &srv->kv_config, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        node_config_t node_cfg = cfg->node;
        /* A forwarded command names a client of the node that forwards it. */
        node_cfg.client_origin_shift = CLIENT_ID_NODE_SHIFT;
        /* A node that lost its disk asks every peer it knows of (from --peers and PEERS),
         * not only the members of the founding membership (docs/design.md "Membership
         * change", Rejoin). */
        for (uint32_t id = 1; id <= NODES_MAX; id++) {
            if (id != cfg->id && (cfg->peer_set[id] || srv->peer_incarnations[id] != 0)) {
                node_cfg.peer_mask |= 1u << id;
            }
        }
        /* Batches are stamped in Unix ms (docs/design.md "Expiry"). */
        node_cfg.stamp_offset_ms = server_wall_offset_ms();
        rc = node_create(&srv->node, &node_cfg);
        if (rc != BALLOT_OK) {
            snprintf(msg, msg_bytes, "cannot create the node: %s", ballot_strerror(rc));
        }
    }
    return rc;
}

static int server_start_loop_parts(server_t *srv, char *msg, size_t msg_bytes)
{
    int rc = net_wakeup_create(srv->loop, server_on_wakeup, srv, &srv->wakeup);
    if (rc == BALLOT_OK) {
        rc = net_timer_create(srv->loop, server_on_node_timer, srv, &srv->node_timer);
    }
    if (rc == BALLOT_OK) {
        rc = net_timer_create(srv->loop, server_on_tick, srv, &srv->tick_timer);
    }
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "cannot set up the event loop: %s", ballot_strerror(rc));
        return rc;
    }
    wal_committer_callbacks_t callbacks = {
        .ctx = srv, .durable = server_on_durable, .error = server_on_storage_error};
    rc = wal_committer_start(&srv->committer, srv->wal, &callbacks);
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "cannot start the storage thread: %s", ballot_strerror(rc));
        return rc;
    }
    net_timer_arm(srv->tick_timer, SERVER_TICK_MS);
    net_loop_set_hook(srv->loop, server_hook, srv);
    return net_loop_on_signals(srv->loop, server_on_signal, srv);
}

static void server_shutdown(server_t *srv)
{
    metrics_stop(srv); /* no HTTP handler waits for the loop after this */
    if (srv->client_listener != NULL) {
        net_listener_close(srv->client_listener);
        srv->client_listener = NULL;
    }
    clients_close_all(srv);
    peers_stop(srv);
    if (srv->committer != NULL) {
        /* Finishes the fdatasync in flight and syncs what is queued. */
        wal_committer_stop(srv->committer);
        srv->committer = NULL;
    }
    if (srv->wal != NULL) {
        wal_close(srv->wal);
        srv->wal = NULL;
    }
    /* A snapshot child is stopped; one on a worker thread finishes (it cannot be
     * cancelled); no new one starts once stopping is set. */
    snapshots_stop(srv);
    while (srv->job != NULL) {
        uv_run(net_loop_uv(srv->loop), UV_RUN_ONCE);
    }
    if (srv->pending_job != NULL) {
        free(srv->pending_job->alloc);
        free(srv->pending_job);
        srv->pending_job = NULL;
    }
    net_timer_destroy(srv->node_timer);
    net_timer_destroy(srv->tick_timer);
    net_wakeup_destroy(srv->wakeup);
    net_loop_settle(srv->loop);
    net_loop_destroy(srv->loop);
    srv->loop = NULL;
}

static void server_free(server_t *srv)
{
    if (srv->trace != NULL) {
        trace_writer_close(srv->trace);
    }
    trace_ring_destroy(srv->ring);
    for (size_t i = 0; i < srv->backlog_count; i++) {
        value_free(&srv->backlog[i].value);
    }
    free(srv->backlog);
    free(srv->fetch.bytes);
    free(srv->frame_buf);
    backup_free(srv);
    metrics_free(srv);
    cluster_free(srv);
    wire_buf_free(&srv->scratch);
    idmap_free(&srv->client_map);
    idmap_free(&srv->read_map);
    node_destroy(srv->node);
    kv_free(srv->kv);
    net_tls_free(srv->peer_tls);
    net_tls_free(srv->client_tls);
    free(srv);
}

static void server_log_ready(server_t *srv)
{
    const server_config_t *cfg = srv->cfg;
    char client_text[NET_HOST_BYTES_MAX + 8];
    char peer_text[NET_HOST_BYTES_MAX + 8];
    net_addr_format(&cfg->client_addr, client_text, sizeof(client_text));
    net_addr_format(&cfg->peer_addr, peer_text, sizeof(peer_text));
    log_info("ballotd n%u (%u member(s) known, cluster %llu) serving RESP%s on %s, peers on %s, "
             "data in %s%s",
             cfg->id, srv->members_known ? config_state_latest(&srv->members)->count : 0u,
             (unsigned long long)cfg->cluster_id, srv->client_tls != NULL ? " over TLS" : "",
             client_text, srv->peer_listener != NULL ? peer_text : "(none)", cfg->data_dir,
             srv->rejoin ? " (rejoining)" : "");
}

static int server_start(server_t *srv, int *lock_fd, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    /* Connection buffers of 128 KiB and more get their own mappings, so that what a
     * closed or drained connection held goes back to the system at once (glibc would
     * otherwise raise this threshold and keep them in the heap): RSS then follows the
     * buffer budget (docs/operations.md "Bounds"). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    int rc = server_mkdirs(cfg->data_dir, msg, msg_bytes);
    if (rc == BALLOT_OK) {
        rc = server_lock_dir(cfg->data_dir, lock_fd, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        rc = net_loop_create(&srv->loop);
    }
    if (rc == BALLOT_OK) {
        net_loop_set_buffer_max(srv->loop, cfg->buffer_bytes_max);
    }
    /* Listen first: a port in use is a configuration error found before the disk is
     * touched. Nothing is accepted until the loop runs. */
    if (rc == BALLOT_OK) {
        rc = clients_listen(srv, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        rc = peers_start(srv, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        rc = metrics_start(srv, msg, msg_bytes);
    }
    if (rc == BALLOT_OK && cluster_start(srv) != BALLOT_OK) {
        snprintf(msg, msg_bytes, "out of memory for the slot map");
        rc = BALLOT_ENOMEM;
    }
    if (rc != BALLOT_OK) {
        srv->exit_status = SERVER_EXIT_CONFIG;
        return rc;
    }
    rc = server_open_parts(srv, msg, msg_bytes);
    if (rc == BALLOT_OK) {
        rc = server_recover(srv, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        rc = server_next_boot(srv, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        members_sync(srv); /* dial the members known so far */
    }
    if (rc == BALLOT_OK) {
        srv->started_ms = server_now_ms();
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t wall_ms = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
        srv->trace_clock_offset_ms = wall_ms > srv->started_ms ? wall_ms - srv->started_ms : 0;
        node_start(srv->node, srv->started_ms, srv->rejoin);
        rc = server_start_loop_parts(srv, msg, msg_bytes);
    }
    if (rc != BALLOT_OK) {
        srv->exit_status = SERVER_EXIT_FATAL;
    }
    return rc;
}

int server_run(const server_config_t *cfg)
{
    server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        fprintf(stderr, "ballotd: out of memory\n");
        return SERVER_EXIT_FATAL;
    }
    srv->cfg = cfg;
    log_set_level(cfg->log_level);
    wire_buf_init(&srv->scratch);
    idmap_init(&srv->client_map);
    idmap_init(&srv->read_map);
    srv->logged_role = ROLE_FOLLOWER;
    int lock_fd = -1;
    char msg[SERVER_MSG_BYTES];
    msg[0] = '\0';
    int rc = server_start(srv, &lock_fd, msg, sizeof(msg));
    if (rc != BALLOT_OK) {
        log_error("cannot start: %s", msg[0] != '\0' ? msg : ballot_strerror(rc));
    } else {
        server_log_ready(srv);
        server_pump(srv);
        net_loop_run(srv->loop);
    }
    int status = srv->exit_status;
    if (srv->loop != NULL) {
        server_shutdown(srv);
    }
    if (srv->wal != NULL) {
        wal_close(srv->wal);
    }
    log_info("stopped (exit %d)", status);
    server_free(srv);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    return status;
}
