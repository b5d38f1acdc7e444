"""The operator's finding: a node's WAL cut in half lost synced, acknowledged records
silently (reported as a torn tail; the node started and voted). Now the node refuses to
start, naming the segment, the offset where it ends and how many synced bytes are missing,
changes nothing on disk, and says that --rejoin recovers; with --rejoin it catches up and
agrees with the others."""

import glob
import os
import signal
import time

from ballot_cluster import SLOW, check, main


def values(cluster, node, keys):
    c = cluster.client(node)
    check(c.cmd("READONLY") == "OK", "READONLY")
    c.send_raw(b"".join(c.encode("GET", k) for k in keys))
    got = [c.read() for _ in keys]
    c.close()
    return got


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    victim = (leader % cluster.n) + 1
    keys = ["k%d" % k for k in range(300)]
    c = cluster.client(leader)
    for k in keys:
        check(c.cmd("SET", k, "value-of-" + k) == "OK", "SET")
    c.close()
    cluster.wait_applied(range(1, cluster.n + 1))
    cluster.kill(victim, signal.SIGTERM)

    segments = sorted(glob.glob(os.path.join(cluster.data_dir(victim), "wal-*.log")))
    check(len(segments) >= 1, "n%d has a WAL" % victim)
    last = segments[-1]
    size = os.path.getsize(last)
    half = size // 2
    os.truncate(last, half)

    cluster.start(victim, wait=False)
    code = cluster.procs[victim].wait(timeout=20 * SLOW)
    cluster.procs.pop(victim)
    cluster.logs.pop(victim).close()
    log = cluster.log_text(victim)
    check(code == 1, "n%d refused to start (exit %d)" % (victim, code))
    name = os.path.basename(last)
    check(name in log and "at offset %d" % half in log, "the error names %s and offset %d:\n%s"
          % (name, half, log[-800:]))
    check("synced records are missing" in log, "the error says synced records are missing")
    check("--rejoin" in log, "the error says --rejoin recovers")
    check("torn tail" not in log, "no torn tail was cut")
    check(os.path.getsize(last) == half, "the refused start changed nothing on disk")

    c = cluster.client(leader)
    check(c.cmd("SET", "while-down", "yes") == "OK", "the others serve writes")
    c.close()
    cluster.start(victim, rejoin=True)
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline and values(cluster, victim, ["while-down"]) != [b"yes"]:
        time.sleep(0.1)
    cluster.wait_applied(range(1, cluster.n + 1))
    reference = values(cluster, leader, keys + ["while-down"])
    check(all(v is not None for v in reference), "the leader holds every acknowledged write")
    check(values(cluster, victim, keys + ["while-down"]) == reference,
          "n%d caught up after --rejoin" % victim)
    check(glob.glob(os.path.join(cluster.data_dir(victim), "wal-*.log.discarded")),
          "the damaged WAL is kept aside")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "server_wal_cut")
