"""--metrics-addr: /metrics scraped with prometheus_client's text parser (Debian's
python3-prometheus-client) moves as writes, reads, elections and snapshots happen; /health is
200 with a reachable leader and 503, with the reason, once the node has none; SLOWLOG and
INFO commandstats read through redis-py as Redis users read them. docs/metrics.md."""

import os
import signal
import socket
import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families

from ballot_cluster import SLOW, check, main


def scrape(cluster, i):
    status, text = cluster.http_get(i, "/metrics")
    check(status == 200, "n%d /metrics status %d" % (i, status))
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_health(cluster, i, code, timeout=10.0):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = cluster.http_get(i, "/health")
        if last[0] == code:
            return last[1]
        time.sleep(0.05)
    raise AssertionError("n%d /health stayed %r, wanted %d" % (i, last, code))


def refused_addresses(cluster):
    """A --metrics-addr in use, or equal to --client, stops ballotd at start (exit 2)."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    base = [cluster.ballotd, "--id", "1", "--client", "127.0.0.1:%d" % cluster.client_ports[1],
            "--bootstrap"]
    for i, (addr, says) in enumerate([(port, "cannot listen"),
                                       (cluster.client_ports[1], "must differ")]):
        p = subprocess.run(base + ["--data-dir", os.path.join(cluster.dir, "refused%d" % i),
                                   "--metrics-addr", "127.0.0.1:%d" % addr],
                           capture_output=True, text=True, timeout=30 * SLOW)
        check(p.returncode == 2 and says in p.stderr, "--metrics-addr %d: %d %r" %
              (addr, p.returncode, p.stderr))
    busy.close()


def run(cluster):
    import redis

    refused_addresses(cluster)

    cluster.start_all()
    leader = cluster.leader()
    follower = [i for i in range(1, cluster.n + 1) if i != leader][0]
    for i in range(1, cluster.n + 1):
        wait_health(cluster, i, 200)

    # HTTP: only /metrics and /health, only GET and HEAD.
    check(cluster.http_get(leader, "/nothing")[0] == 404, "unknown path is 404")
    import urllib.error
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    post = urllib.request.Request("http://127.0.0.1:%d/metrics" % cluster.metrics_ports[leader],
                                  data=b"x" * 100000, method="POST")
    try:
        opener.open(post, timeout=5 * SLOW)
        check(False, "POST is refused")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "POST: %d" % e.code)

    # Writes and reads move the request, proposal, chosen, WAL and fsync figures.
    before = scrape(cluster, leader)
    fbefore = scrape(cluster, follower)
    r = redis.Redis(port=cluster.client_ports[leader])
    for k in range(150):
        r.set("k%d" % k, "v%d" % k)
    for k in range(20):
        check(r.get("k%d" % k) == b"v%d" % k, "read back")
    rf = redis.Redis(port=cluster.client_ports[follower])
    for k in range(10):
        check(rf.get("k%d" % k) == b"v%d" % k, "read on the follower")
    try:
        r.execute_command("INCR", "k1")
        check(False, "INCR of a non-integer fails")
    except redis.ResponseError:
        pass
    after = scrape(cluster, leader)
    fafter = scrape(cluster, follower)

    def grew(name, at_least, s0=before, s1=after, **labels):
        d = val(s1, name, **labels) - val(s0, name, **labels)
        check(d >= at_least, "%s%r grew by %s, wanted >= %s" % (name, labels, d, at_least))

    grew("ballot_requests_total", 150, command="set")
    grew("ballot_requests_total", 20, command="get")
    grew("ballot_request_errors_total", 1, command="incr")
    grew("ballot_request_duration_seconds_count", 150, kind="write")
    # The leader's reads are lease reads while it holds its lease (a loaded machine may let
    # it lapse for a moment: then a read-index round).
    grew("ballot_request_duration_seconds_count", 1, kind="lease_read")
    reads = sum(val(after, "ballot_request_duration_seconds_count", kind=k) -
                val(before, "ballot_request_duration_seconds_count", kind=k)
                for k in ("lease_read", "read_index_read"))
    check(reads >= 20, "the leader's reads are counted: %s" % reads)
    grew("ballot_request_duration_seconds_count", 10, fbefore, fafter, kind="read_index_read")
    grew("ballot_request_duration_seconds_bucket", 150, kind="write", le="+Inf")
    grew("ballot_proposals_total", 1)
    grew("ballot_proposed_commands_total", 150)
    grew("ballot_batch_commands_count", 1)
    grew("ballot_slots_chosen_total", 1, how="quorum")
    grew("ballot_slots_chosen_total", 1, fbefore, fafter, how="learned")
    grew("ballot_wal_written_bytes_total", 150 * 10)
    grew("ballot_wal_fsync_seconds_count", 1)
    grew("ballot_wal_group_commit_records_count", 1)
    check(val(after, "ballot_role", role="leader") == 1, "the leader says leader")
    check(val(fafter, "ballot_role", role="follower") == 1, "the follower says follower")
    deadline = time.time() + 5 * SLOW
    while val(scrape(cluster, leader), "ballot_lease_held") != 1:
        check(time.time() < deadline, "the leader holds its lease")
        time.sleep(0.05)
    check(val(after, "ballot_peers_up") == cluster.n - 1, "every peer up")
    check(val(after, "ballot_memory_bytes", part="kv") > 0, "kv memory")
    check(val(after, "ballot_memory_bytes", part="resident") > 0, "resident memory")
    check(val(after, "ballot_healthy") == 1, "healthy gauge")
    check(val(after, "ballot_client_connections") >= 1, "connections gauge")
    for p in range(1, cluster.n + 1):
        if p != leader:
            check(("ballot_peer_commit_lag_slots", (("peer", str(p)),)) in after,
                  "per-peer commit lag of n%d" % p)

    # Snapshots (every 64 slots here).
    snaps = val(after, "ballot_snapshots_total", origin="made", result="ok")
    deadline = time.time() + 10 * SLOW
    while val(after, "ballot_snapshots_total", origin="made", result="ok") <= snaps:
        check(time.time() < deadline, "a snapshot was counted")
        for k in range(70):
            r.set("s%d" % k, "x")
        time.sleep(0.2)
        after = scrape(cluster, leader)
    check(val(after, "ballot_snapshot_last_bytes") > 0, "snapshot size")
    check(val(after, "ballot_snapshot_duration_seconds_count") >= 1, "snapshot duration")

    # INFO commandstats and SLOWLOG (--slowlog-slower-than-us 0: every request) via redis-py.
    stats = r.info("commandstats")
    check(stats["cmdstat_set"]["calls"] >= 150, "cmdstat_set calls: %r" % stats["cmdstat_set"])
    check("usec_per_call" in stats["cmdstat_get"], "usec_per_call")
    check(stats["cmdstat_incr"]["failed_calls"] >= 1, "failed_calls")
    check(r.slowlog_len() == 32, "SLOWLOG LEN is the --slowlog-max-len bound")
    entries = r.slowlog_get(3)
    check(len(entries) == 3, "SLOWLOG GET 3")
    check(entries[0]["id"] > entries[1]["id"], "newest first")
    check(entries[0]["command"] == b"INFO commandstats", "slow-log arguments: %r" % entries[0])
    check(entries[1]["command"].startswith(b"SET s"), "a write's arguments: %r" % entries[1])
    check(isinstance(entries[0]["duration"], int), "duration in microseconds")
    r.set("long", "x" * 1000)
    entry = r.slowlog_get(1)[0]
    check(b"more bytes" in entry["command"], "a long argument is cut: %r" % entry["command"])
    check(r.slowlog_reset(), "SLOWLOG RESET")
    check(r.slowlog_len() == 0, "empty after RESET")

    # Elections: kill -9 the leader; a survivor wins and both count the change.
    s0 = {i: scrape(cluster, i) for i in range(1, cluster.n + 1) if i != leader}
    cluster.kill(leader, signal.SIGKILL)
    new_leader = cluster.leader(exclude=(leader,))
    survivors = list(s0)
    wait_health(cluster, new_leader, 200)
    s1 = {i: scrape(cluster, i) for i in survivors}
    grew("ballot_elections_won_total", 1, s0[new_leader], s1[new_leader])
    # (Its Prepare may have left before the kill, when a loaded machine delays heartbeats.)
    check(val(s1[new_leader], "ballot_elections_started_total") >=
          val(s1[new_leader], "ballot_elections_won_total") >= 1, "elections started and won")
    for i in survivors:
        grew("ballot_leader_changes_total", 1, s0[i], s1[i])
    check(val(s1[new_leader], "ballot_ballot_round") > val(s0[new_leader], "ballot_ballot_round"),
          "the ballot round moved")
    check(val(s1[new_leader], "ballot_peer_up", peer=str(leader)) == 0, "dead peer is down")

    # The survivor alone has no leader it can reach: 503 with the reason.
    other = [i for i in survivors if i != new_leader][0]
    cluster.kill(new_leader, signal.SIGKILL)
    reason = wait_health(cluster, other, 503, timeout=15)
    check("leader" in reason, "503 says why: %r" % reason)
    print("n%d alone: /health 503 %s" % (other, reason.strip()))
    check(val(scrape(cluster, other), "ballot_healthy") == 0, "healthy gauge 0")


if __name__ == "__main__":
    main(run, "server_metrics", metrics=True,
         extra_args=["--snapshot-every-slots", "64", "--slowlog-slower-than-us", "0",
                     "--slowlog-max-len", "32"])
