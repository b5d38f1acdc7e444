"""Transactions across a leader's death: 16 redis-py clients run pipeline(transaction=True)
transfers between 100 accounts through all three nodes while the leader is killed (SIGKILL)
and restarted. Every audit (MGET of all accounts, on any node) and the final state conserve
the total: no transaction is ever seen half applied, whatever failed or timed out. Then a
WATCH taken before the failover still aborts an EXEC after it when its key was changed."""

import threading
import time

import redis

from clients_util import check, main

ACCOUNTS = ["fo:%d" % i for i in range(100)]
TOTAL = 100 * 1000


def connect(cluster, i):
    return redis.Redis(host="127.0.0.1", port=cluster.client_ports[i], socket_timeout=5)


def test(cluster):
    cluster.start_all()
    leader = cluster.leader()
    connect(cluster, leader).mset({a: 1000 for a in ACCOUNTS})
    cluster.wait_applied([1, 2, 3])
    stop = [False]
    counts = {"ok": 0, "failed": 0, "audits": 0}
    bad = []
    guard = threading.Lock()

    def transfer(w):
        k = 0
        while not stop[0]:
            node = 1 + (w + k) % 3
            a = ACCOUNTS[(w * 7 + k * 13) % 100]
            b = ACCOUNTS[(w * 11 + k * 17 + 1) % 100]
            k += 1
            if a == b:
                continue
            try:
                with connect(cluster, node).pipeline(transaction=True) as p:
                    p.decrby(a, 3)
                    p.incrby(b, 3)
                    p.execute()
                with guard:
                    counts["ok"] += 1
            except (redis.exceptions.RedisError, OSError):
                with guard:
                    counts["failed"] += 1
                time.sleep(0.02)

    def audit(node):
        while not stop[0]:
            try:
                total = sum(int(v) for v in connect(cluster, node).mget(ACCOUNTS))
            except (redis.exceptions.RedisError, OSError):
                time.sleep(0.02)
                continue
            with guard:
                counts["audits"] += 1
                if total != TOTAL:
                    bad.append((node, total))

    threads = [threading.Thread(target=transfer, args=(w,)) for w in range(16)]
    threads += [threading.Thread(target=audit, args=(n,)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    cluster.kill(leader)
    time.sleep(2.0)
    cluster.start(leader)
    time.sleep(1.5)
    stop[0] = True
    for t in threads:
        t.join()
    check(not bad, "audits saw a half-applied transfer: %r" % bad[:5])
    cluster.leader()
    cluster.wait_applied([1, 2, 3])
    for i in (1, 2, 3):
        total = sum(int(v) for v in connect(cluster, i).mget(ACCOUNTS))
        check(total == TOTAL, "node %d total %d after the failover" % (i, total))
    check(counts["ok"] > 0, "no transfer succeeded")
    print("failover: %d transfers ok, %d failed or unknown, %d audits, total conserved on 3 nodes"
          % (counts["ok"], counts["failed"], counts["audits"]))
    # A WATCH taken under the old leader still counts under the new one.
    old = cluster.leader()
    r = connect(cluster, 1 + old % 3)
    r.set("fo:w", "1")
    p = r.pipeline(transaction=True)
    p.watch("fo:w")
    cluster.kill(old)
    new = cluster.leader(exclude=(old,))
    connect(cluster, new).set("fo:w", "2")
    p.multi()
    p.set("fo:w", "3")
    try:
        p.execute()
        check(False, "EXEC applied though the watched key changed across the failover")
    except redis.exceptions.WatchError:
        pass
    check(connect(cluster, new).get("fo:w") == b"2", "watched key kept the other write")
    cluster.start(old)


if __name__ == "__main__":
    main(test, "clients_txn_failover")
