/* Snapshots: made here every N applied slots (or bytes) so that the WAL and the core's log
 * can be compacted; served to a peer that needs slots compacted away (it asks with
 * SNAPSHOT_REQUEST frames, one chunk at a time, so the transfer paces itself); installed
 * from a peer when the core says so (outputs.snapshot_wanted_*).
 *
 * The image is taken on the loop thread (a copy of the kv's bytes) and written and synced
 * by a libuv worker thread, so the disk never stalls the network. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/log.h"
#include "server/server_internal.h"

#define SNAPSHOT_FETCH_ATTEMPTS_MAX 5u
/* The report pipe's descriptor in the snapshot child; every higher one is closed there. */
#define SNAPSHOT_CHILD_FD 3

int snapshots_recover(server_t *srv, bool *found, char *msg, size_t msg_bytes)
{
    snapshot_t snap;
    snapshot_report_t report;
    memset(&snap, 0, sizeof(snap));
    *found = false;
    int rc = snapshot_read_latest(srv->cfg->data_dir, storage_io_posix(), &snap, &report);
    if (report.skipped > 0) {
        log_warn("skipped %u damaged snapshot file(s): %s", report.skipped, report.message);
    }
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "snapshots in %s: %s", srv->cfg->data_dir, report.message);
        return rc;
    }
    if (!report.found) {
        return BALLOT_OK;
    }
    char err[KV_ERROR_BYTES];
    rc = kv_snapshot_restore(srv->kv, snap.bytes, (size_t)snap.size, err, sizeof(err));
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "snapshot at slot %llu does not restore: %s",
                 (unsigned long long)snap.slot, err);
        snapshot_free(&snap);
        return rc == BALLOT_ENOMEM ? rc : BALLOT_ECORRUPT;
    }
    node_recover_snapshot(srv->node, snap.slot, NULL);
    srv->applied_slot = snap.slot;
    srv->snapshot_slot = snap.slot;
    srv->compacted_slot = snap.slot;
    log_info("restored snapshot at slot %llu (%llu bytes, %llu keys)",
             (unsigned long long)snap.slot, (unsigned long long)snap.size,
             (unsigned long long)kv_key_count(srv->kv));
    snapshot_free(&snap);
    *found = true;
    return BALLOT_OK;
}

static void snapshots_work(uv_work_t *work)
{
    snapshot_job_t *job = work->data;
    server_t *srv = job->srv;
    job->result = snapshot_write(srv->cfg->data_dir, storage_io_posix(), job->slot, job->image,
                                 job->size, &job->compact_slot, job->message, sizeof(job->message));
}

static void snapshots_start_job(server_t *srv, snapshot_job_t *job);
static void snapshots_finish(server_t *srv, snapshot_job_t *job);

static void snapshots_after_write(server_t *srv, snapshot_job_t *job)
{
    uint64_t ms = server_now_ms() - job->started_ms;
    log_info("snapshot at slot %llu written (%llu bytes, %llu ms%s)", (unsigned long long)job->slot,
             (unsigned long long)job->size, (unsigned long long)ms,
             job->received ? ", received from a peer" : "");
    if (job->slot > srv->snapshot_slot) {
        srv->snapshot_slot = job->slot;
        srv->snapshot_bytes = job->size;
    }
    uint64_t keep = srv->cfg->snapshot_log_keep_slots;
    uint64_t compact_to = job->slot > keep ? job->slot - keep : 0;
    if (!job->received && compact_to > srv->compacted_slot) {
        node_compact(srv->node, compact_to);
        srv->compacted_slot = compact_to;
        /* The compacted log's memory is free but scattered through the heap: hand whole
         * free pages back to the system so the resident size follows the live state. */
        malloc_trim(0);
    }
    if (job->compact_slot > 0 && srv->committer != NULL) {
        wal_committer_compact(srv->committer, job->compact_slot);
    }
}

static void snapshots_finish(server_t *srv, snapshot_job_t *job)
{
    if (job->result == BALLOT_OK) {
        snapshots_after_write(srv, job);
    } else if (srv->stopping) {
        log_info("snapshot at slot %llu abandoned: the node is stopping",
                 (unsigned long long)job->slot);
    } else {
        log_error("snapshot at slot %llu not written: %s", (unsigned long long)job->slot,
                  job->message[0] != '\0' ? job->message : ballot_strerror(job->result));
    }
    free(job->alloc);
    srv->job = NULL;
    free(job);
    if (srv->pending_job != NULL && !srv->stopping) {
        snapshot_job_t *next = srv->pending_job;
        srv->pending_job = NULL;
        snapshots_start_job(srv, next);
    }
}

static void snapshots_after_work(uv_work_t *work, int status)
{
    snapshot_job_t *job = work->data;
    if (status != 0) {
        job->result = BALLOT_EIO;
    }
    snapshots_finish(job->srv, job);
}

static void snapshots_start_job(server_t *srv, snapshot_job_t *job)
{
    if (srv->job != NULL) {
        /* One writer at a time: snapshot_write prunes old files in the same directory. */
        if (srv->pending_job != NULL) {
            free(srv->pending_job->alloc);
            free(srv->pending_job);
        }
        srv->pending_job = job;
        return;
    }
    job->srv = srv;
    job->work.data = job;
    job->started_ms = server_now_ms();
    srv->job = job;
    int rc =
        uv_queue_work(net_loop_uv(srv->loop), &job->work, snapshots_work, snapshots_after_work);
    if (rc != 0) {
        log_error("cannot start the snapshot writer: %s", uv_strerror(rc));
        srv->job = NULL;
        free(job->alloc);
        free(job);
    }
}

/* In the child: serialize the kv it inherited and write the snapshot file. Only
 * async-signal-safe exits from here (_exit); glibc keeps malloc usable after fork. */
static void snapshots_child(server_t *srv, uint64_t slot, int fd)
{
    /* The child must not keep the node's sockets (a restarted node could not listen, peers
     * would not see the link drop) nor outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(fd, SNAPSHOT_CHILD_FD) < 0) {
        _exit(1);
    }
    fd = SNAPSHOT_CHILD_FD;
    close_range(SNAPSHOT_CHILD_FD + 1, ~0u, 0);
    snapshot_child_report_t report;
    memset(&report, 0, sizeof(report));
    uint8_t *image = NULL;
    uint64_t size = 0;
    int rc = kv_snapshot_image(srv->kv, SNAPSHOT_BYTES_MAX, &image, &size);
    report.size = size;
    if (rc != BALLOT_OK) {
        report.result = rc;
        snprintf(report.message, sizeof(report.message), "cannot serialize %llu bytes: %s",
                 (unsigned long long)size, ballot_strerror(rc));
    } else {
        report.result =
            snapshot_write(srv->cfg->data_dir, storage_io_posix(), slot, image, size,
                           &report.compact_slot, report.message, sizeof(report.message));
    }
    ssize_t n = write(fd, &report, sizeof(report));
    _exit(n == (ssize_t)sizeof(report) && report.result == BALLOT_OK ? 0 : 1);
}

static bool snapshots_due(const server_t *srv)
{
    const server_config_t *cfg = srv->cfg;
    if (srv->job != NULL || srv->fetch.active || srv->stopping ||
        srv->applied_slot <= srv->snapshot_slot) {
        return false;
    }
    /* A snapshot costs its whole size; waiting for a quarter of it to be applied keeps the
     * cost per applied byte bounded as the state grows. */
    uint64_t bytes_needed = cfg->snapshot_every_bytes;
    if (bytes_needed > 0 && srv->snapshot_bytes / 4 > bytes_needed) {
        bytes_needed = srv->snapshot_bytes / 4;
    }
    bool by_slots = cfg->snapshot_every_slots > 0 &&
                    srv->applied_slot - srv->snapshot_slot >= cfg->snapshot_every_slots &&
                    srv->applied_bytes_since_snapshot >= srv->snapshot_bytes / 4;
    bool by_bytes = bytes_needed > 0 && srv->applied_bytes_since_snapshot >= bytes_needed;
    return by_slots || by_bytes;
}

void snapshots_maybe_take(server_t *srv)
{
    if (!snapshots_due(srv)) {
        return;
    }
    int fds[2];
    snapshot_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        free(job);
        log_error("cannot start a snapshot: %s", strerror(errno));
        return;
    }
    uint64_t slot = srv->applied_slot;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        snapshots_child(srv, slot, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        log_error("cannot fork the snapshot writer: %s", strerror(errno));
        close(fds[0]);
        free(job);
        return;
    }
    srv->applied_bytes_since_snapshot = 0;
    job->srv = srv;
    job->pid = pid;
    job->pipe_fd = fds[0];
    job->slot = slot;
    job->started_ms = server_now_ms();
    srv->job = job;
}

/* Collects a finished snapshot child (called from the tick). */
static void snapshots_reap(server_t *srv, bool wait)
{
    snapshot_job_t *job = srv->job;
    int status = 0;
    pid_t done = waitpid(job->pid, &status, wait ? 0 : WNOHANG);
    if (done == 0 || (done < 0 && errno == EINTR)) {
        return;
    }
    snapshot_child_report_t report;
    memset(&report, 0, sizeof(report));
    ssize_t n = read(job->pipe_fd, &report, sizeof(report));
    close(job->pipe_fd);
    job->result = n == (ssize_t)sizeof(report) ? report.result : BALLOT_EIO;
    job->size = report.size;
    job->compact_slot = report.compact_slot;
    snprintf(job->message, sizeof(job->message), "%s",
             n == (ssize_t)sizeof(report) ? report.message : "the snapshot writer died");
    snapshots_finish(srv, job);
}

void snapshots_stop(server_t *srv)
{
    if (srv->job != NULL && srv->job->pid > 0) {
        /* The file is written to a temp name and renamed last: stopping the writer leaves
         * the older snapshots as they were. */
        kill(srv->job->pid, SIGKILL);
        snapshots_reap(srv, true);
    }
}

static void snapshots_request(server_t *srv, uint64_t slot, uint64_t offset)
{
    wire_snapshot_request_t request = {.slot = slot, .offset = offset};
    wire_buf_t *out = server_scratch(srv);
    srv->fetch.requested_ms = server_now_ms();
    if (wire_encode_snapshot_request(out, &request) == BALLOT_OK) {
        peers_send_frame(srv, srv->fetch.from, out);
    }
}

static void snapshots_fetch_reset(server_t *srv)
{
    free(srv->fetch.bytes);
    srv->fetch.bytes = NULL;
    srv->fetch.slot = 0;
    srv->fetch.total = 0;
    srv->fetch.received = 0;
}

static void snapshots_fetch_cancel(server_t *srv)
{
    snapshots_fetch_reset(srv);
    srv->fetch.active = false;
}

void snapshots_on_wanted(server_t *srv, uint64_t slot, uint32_t from)
{
    snapshot_fetch_t *f = &srv->fetch;
    if (slot <= srv->applied_slot || (f->active && f->wanted_slot >= slot) || from == NODE_NONE ||
        from == srv->cfg->id) {
        return;
    }
    snapshots_fetch_reset(srv);
    f->active = true;
    f->from = from;
    f->wanted_slot = slot;
    f->attempts = 0;
    log_info("fetching a snapshot (slot >= %llu) from n%u: the log below it was compacted",
             (unsigned long long)slot, from);
    snapshots_request(srv, slot, 0);
}

void snapshots_on_request(server_t *srv, peer_link_t *link, const wire_snapshot_request_t *r)
{
    if (srv->snapshot_slot == 0) {
        log_debug("n%u asked for a snapshot; none written yet", link->peer_id);
        return;
    }
    char path[CONFIG_PATH_BYTES_MAX + STORAGE_NAME_BYTES_MAX];
    snprintf(path, sizeof(path), "%s/snap-%020llu.snap", srv->cfg->data_dir,
             (unsigned long long)srv->snapshot_slot);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        log_warn("cannot serve snapshot %s to n%u: %s", path, link->peer_id, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    uint64_t total = (uint64_t)st.st_size;
    uint64_t offset = r->offset < total ? r->offset : 0;
    uint64_t want = total - offset;
    uint32_t size =
        want < WIRE_SNAPSHOT_CHUNK_BYTES_MAX ? (uint32_t)want : WIRE_SNAPSHOT_CHUNK_BYTES_MAX;
    if (srv->frame_buf == NULL) {
        srv->frame_buf = malloc(WIRE_SNAPSHOT_CHUNK_BYTES_MAX);
    }
    ssize_t got = srv->frame_buf != NULL ? pread(fd, srv->frame_buf, size, (off_t)offset) : -1;
    close(fd);
    if (got != (ssize_t)size) {
        log_warn("cannot read snapshot %s for n%u", path, link->peer_id);
        return;
    }
    if (offset == 0) {
        log_info("sending snapshot at slot %llu (%llu bytes) to n%u",
                 (unsigned long long)srv->snapshot_slot, (unsigned long long)total, link->peer_id);
    }
    wire_snapshot_chunk_t chunk = {.slot = srv->snapshot_slot,
                                   .total_bytes = total,
                                   .offset = offset,
                                   .size = size,
                                   .bytes = srv->frame_buf};
    wire_buf_t *out = server_scratch(srv);
    if (wire_encode_snapshot_chunk(out, &chunk) == BALLOT_OK) {
        peers_reply_frame(link, out);
    }
}

static void snapshots_install(server_t *srv)
{
    snapshot_fetch_t *f = &srv->fetch;
    snapshot_t snap;
    char msg[SNAPSHOT_MESSAGE_BYTES];
    if (snapshot_parse(f->bytes, f->total, &snap, msg, sizeof(msg)) != BALLOT_OK) {
        log_warn("snapshot from n%u refused: %s; fetching again", f->from, msg);
        snapshots_fetch_reset(srv);
        snapshots_request(srv, f->wanted_slot, 0);
        return;
    }
    if (snap.slot <= srv->applied_slot) {
        snapshots_fetch_cancel(srv);
        return;
    }
    char err[KV_ERROR_BYTES];
    int rc = kv_snapshot_restore(srv->kv, snap.bytes, (size_t)snap.size, err, sizeof(err));
    if (rc != BALLOT_OK) {
        log_error("snapshot at slot %llu from n%u does not restore: %s",
                  (unsigned long long)snap.slot, f->from, err);
        snapshots_fetch_cancel(srv);
        return;
    }
    node_snapshot_installed(srv->node, snap.slot, NULL, server_now_ms());
    srv->applied_slot = snap.slot;
    srv->applied_bytes_since_snapshot = 0;
    log_info("installed snapshot at slot %llu from n%u (%llu keys)", (unsigned long long)snap.slot,
             f->from, (unsigned long long)kv_key_count(srv->kv));
    snapshot_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        snapshots_fetch_cancel(srv);
        return;
    }
    job->slot = snap.slot;
    job->image = (uint8_t *)snap.bytes;
    job->size = snap.size;
    job->alloc = f->bytes;
    job->received = true;
    f->bytes = NULL; /* the job owns it now */
    snapshots_fetch_cancel(srv);
    snapshots_start_job(srv, job);
}

static bool snapshots_accept_first(server_t *srv, const wire_snapshot_chunk_t *chunk)
{
    snapshot_fetch_t *f = &srv->fetch;
    if (chunk->slot <= srv->applied_slot) {
        snapshots_fetch_cancel(srv); /* caught up meanwhile */
        return false;
    }
    if (chunk->total_bytes == 0 ||
        chunk->total_bytes > SNAPSHOT_BYTES_MAX + SNAPSHOT_HEADER_BYTES) {
        log_warn("snapshot from n%u refused: %llu bytes", f->from,
                 (unsigned long long)chunk->total_bytes);
        snapshots_fetch_cancel(srv);
        return false;
    }
    f->bytes = malloc(chunk->total_bytes);
    if (f->bytes == NULL) {
        log_error("no memory for a %llu-byte snapshot", (unsigned long long)chunk->total_bytes);
        snapshots_fetch_cancel(srv);
        return false;
    }
    f->slot = chunk->slot;
    f->total = chunk->total_bytes;
    f->received = 0;
    return true;
}

void snapshots_on_chunk(server_t *srv, uint32_t from, const wire_snapshot_chunk_t *chunk)
{
    snapshot_fetch_t *f = &srv->fetch;
    if (!f->active || from != f->from) {
        return;
    }
    if (f->slot == 0 && !snapshots_accept_first(srv, chunk)) {
        return;
    }
    if (chunk->slot != f->slot || chunk->total_bytes != f->total) {
        /* The peer moved on to a newer snapshot: start over with that one. */
        snapshots_fetch_reset(srv);
        snapshots_request(srv, f->wanted_slot, 0);
        return;
    }
    if (chunk->offset != f->received || chunk->size == 0 ||
        chunk->offset + chunk->size > f->total) {
        snapshots_request(srv, f->slot, f->received);
        return;
    }
    memcpy(f->bytes + f->received, chunk->bytes, chunk->size);
    f->received += chunk->size;
    f->attempts = 0;
    if (f->received < f->total) {
        snapshots_request(srv, f->slot, f->received);
        return;
    }
    snapshots_install(srv);
}

void snapshots_tick(server_t *srv, uint64_t now_ms)
{
    if (srv->job != NULL && srv->job->pid > 0) {
        snapshots_reap(srv, false);
    }
    snapshot_fetch_t *f = &srv->fetch;
    if (!f->active || now_ms - f->requested_ms < SNAPSHOT_REQUEST_TIMEOUT_MS) {
        return;
    }
    if (++f->attempts >= SNAPSHOT_FETCH_ATTEMPTS_MAX) {
        log_warn("snapshot fetch from n%u gave up after %u unanswered requests", f->from,
                 f->attempts);
        snapshots_fetch_cancel(srv);
        return;
    }
    snapshots_request(srv, f->slot != 0 ? f->slot : f->wanted_slot, f->received);
}
