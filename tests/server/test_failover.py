"""kill -9 the leader: a new leader is elected and writes succeed again; the killed node,
restarted on its data, catches up with what was written while it was down."""

import signal
import time

from ballot_cluster import check, main


def values_on(cluster, node, keys):
    c = cluster.client(node)
    c.send_raw(b"".join(c.encode("GET", k) for k in keys))
    got = [c.read() for _ in keys]
    c.close()
    return got


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    others = [i for i in range(1, cluster.n + 1) if i != leader]
    for k in range(50):
        cluster.write_retry(others[0], "SET", "before%d" % k, "v%d" % k)

    cluster.kill(leader, signal.SIGKILL)
    killed_at = time.time()
    cluster.write_retry(others[0], "SET", "after-kill", "yes", timeout=15)
    print("first write after kill -9 of the leader: %.0f ms" % ((time.time() - killed_at) * 1000))
    new_leader = cluster.leader(exclude=(leader,))
    check(new_leader != leader, "a new leader was elected")

    keys = ["before%d" % k for k in range(50)] + ["during%d" % k for k in range(100)]
    for k in range(100):
        cluster.write_retry(others[k % 2], "SET", "during%d" % k, "d%d" % k)
    expected = [b"v%d" % k for k in range(50)] + [b"d%d" % k for k in range(100)]
    for node in others:
        check(values_on(cluster, node, keys) == expected, "survivor n%d has every write" % node)

    cluster.start(leader)
    cluster.wait_applied(range(1, cluster.n + 1))
    check(values_on(cluster, leader, keys) == expected, "restarted n%d caught up" % leader)
    # The restarted node serves writes again (forwarding to the new leader).
    cluster.write_retry(leader, "SET", "from-restarted", "ok")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "server_failover")
