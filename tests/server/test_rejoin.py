"""A node whose disk is lost restarts with an empty data dir and --rejoin: it catches up
(through a snapshot, since the others compacted their logs) without breaking agreement:
every node ends with the same values, and the rejoined node then helps elect a leader. A
crash in the middle of the rejoin makes the next start rejoin again."""

import os
import shutil
import signal
import time

from ballot_cluster import SLOW, check, info, main


def local_values(cluster, node, keys):
    """What this node's own state machine holds (READONLY: no read barrier)."""
    c = cluster.client(node)
    check(c.cmd("READONLY") == "OK", "READONLY")
    c.send_raw(b"".join(c.encode("GET", k) for k in keys))
    got = [c.read() for _ in keys]
    c.close()
    return got


def write_keys(cluster, node, prefix, count):
    c = cluster.client(node)
    for k in range(count):
        check(c.cmd("SET", "%s%d" % (prefix, k), "%s-value-%d" % (prefix, k)) == "OK", "SET")
    c.close()


def wait_rejoined(cluster, node, timeout=20.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if info(cluster.client_ports[node]).get("rejoining") == "0":
            return
        time.sleep(0.1)
    raise AssertionError("n%d still rejoining" % node)


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    lost = (leader % cluster.n) + 1
    write_keys(cluster, leader, "a", 300)
    cluster.wait_applied(range(1, cluster.n + 1))

    cluster.kill(lost, signal.SIGKILL)
    shutil.rmtree(cluster.data_dir(lost))
    os.makedirs(cluster.data_dir(lost))
    write_keys(cluster, leader, "b", 100)
    cluster.start(lost, rejoin=True)
    # A crash before the rejoin finishes leaves a partial acceptor state: restarted without
    # --rejoin, the node must see its marker and rejoin again, never vote from that state.
    marker = os.path.join(cluster.data_dir(lost), "REJOINING")
    check(os.path.exists(marker), "n%d marks its rejoin as unfinished" % lost)
    cluster.kill(lost, signal.SIGKILL)
    cluster.start(lost)
    check("rejoining again" in cluster.log_text(lost), "n%d rejoins again after a crash" % lost)
    write_keys(cluster, leader, "c", 100)
    wait_rejoined(cluster, lost)
    deadline = time.time() + 10 * SLOW
    while os.path.exists(marker) and time.time() < deadline:
        time.sleep(0.1)
    check(not os.path.exists(marker), "n%d removes the marker once it votes again" % lost)
    cluster.wait_applied(range(1, cluster.n + 1))
    log = cluster.log_text(lost)
    check("installed snapshot" in log, "n%d caught up through a snapshot" % lost)

    keys = ["%s%d" % (p, k) for p, n in (("a", 300), ("b", 100), ("c", 100)) for k in range(n)]
    reference = local_values(cluster, leader, keys)
    check(all(v is not None for v in reference), "the leader holds every acknowledged write")
    for node in range(1, cluster.n + 1):
        check(local_values(cluster, node, keys) == reference, "n%d agrees" % node)

    # The rejoined node now votes: with the old leader gone it is part of every majority.
    cluster.kill(leader, signal.SIGKILL)
    cluster.write_retry(lost, "SET", "after", "rejoin", timeout=15)
    survivors = [i for i in range(1, cluster.n + 1) if i != leader]
    cluster.wait_applied(survivors)
    for node in survivors:
        check(local_values(cluster, node, keys + ["after"]) == reference + [b"rejoin"],
              "n%d agrees after the second failover" % node)
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "server_rejoin", extra_args=["--snapshot-every-slots", "64",
                                           "--snapshot-log-keep-slots", "8"])
