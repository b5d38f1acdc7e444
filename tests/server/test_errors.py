"""Every error reply says whether the write may have happened (docs/operations.md "Errors:
definite and indeterminate"). Definite errors (-NOTLEADER, -BUSY, -TOOLARGE, -ERR ...) mean
the write was not applied and never will be; -TIMEOUT means its outcome is unknown. Each
path is driven here on real nodes, and every write answered with a definite error is checked
absent from every node afterwards, also under leadership changes with full queues."""

import signal
import threading
import time

from ballot_cluster import SLOW, Resp, RespError, check, info, main

DEFINITE = ("NOTLEADER", "BUSY", "TOOLARGE", "ERR", "NOAUTH", "NOPERM", "WRONGPASS")
INDETERMINATE = ("TIMEOUT",)
TIMEOUT_MS = 1500


def prefix(reply):
    return str(reply).split(" ", 1)[0] if isinstance(reply, RespError) else None


def get_all(cluster, nodes, key):
    out = {}
    for i in nodes:
        c = cluster.client(i)
        c.cmd("READONLY")  # the local state, after wait_applied
        out[i] = c.cmd("GET", key)
        c.close()
    return out


def settle(cluster, nodes):
    leader = cluster.leader()
    cluster.write_retry(leader, "SET", "settle-%f" % time.time(), "1")
    cluster.wait_applied(nodes)
    return leader


def lone_node(cluster):
    """n1 alone never has a leader: its write is refused until the deadline, definitely."""
    cluster.start(1)
    c = cluster.client(1)
    r = c.cmd("SET", "lonely", "1")
    c.close()
    check(prefix(r) == "NOTLEADER", "lone write: %r" % r)
    check("not applied" in str(r), "the reply says so: %r" % r)
    cluster.start(2)
    cluster.start(3)
    settle(cluster, (1, 2, 3))
    check(set(get_all(cluster, (1, 2, 3), "lonely").values()) == {None}, "never applied")


def forwarded_then_no_leader(cluster):
    """The write reached the leader (forwarded); then no leader is known at the deadline.
    That used to be -NOTLEADER ("not applied"); the write may still be chosen."""
    leader = cluster.leader()
    f1, f2 = [i for i in (1, 2, 3) if i != leader]
    c = cluster.client(f1)
    cluster.procs[leader].send_signal(signal.SIGSTOP)
    cluster.procs[f2].send_signal(signal.SIGSTOP)
    try:
        r = c.cmd("SET", "forwarded", "1")
        seen = info(cluster.client_ports[f1])
    finally:
        cluster.procs[leader].send_signal(signal.SIGCONT)
        cluster.procs[f2].send_signal(signal.SIGCONT)
    c.close()
    check(prefix(r) == "TIMEOUT", "forwarded write at the deadline: %r" % r)
    print("forwarded write, n%d then saw leader_id %s: %s" % (f1, seen.get("leader_id"), r))
    settle(cluster, (1, 2, 3))
    values = set(get_all(cluster, (1, 2, 3), "forwarded").values())
    check(len(values) == 1, "every node agrees: %r" % values)
    print("  afterwards it is %s" % ("applied" if values == {b"1"} else "not applied"))


def leader_alone(cluster):
    """On a leader cut off from both followers, with one slot in flight and a queue of one
    (--window-slots 1 --pending-commands-max 1): the first write is proposed (-TIMEOUT: it
    may be chosen later), the second waits in the queue and is dropped when the leader steps
    down (-NOTLEADER), the third finds the queue full (-BUSY)."""
    leader = cluster.leader()
    others = [i for i in (1, 2, 3) if i != leader]
    c = cluster.client(leader)
    for i in others:
        cluster.procs[i].send_signal(signal.SIGSTOP)
    try:
        c.send_raw(b"".join(c.encode("SET", "alone%d" % k, "v") for k in range(3)))
        replies = [c.read() for _ in range(3)]
    finally:
        for i in others:
            cluster.procs[i].send_signal(signal.SIGCONT)
    c.close()
    print("leader alone: %r" % (replies,))
    check(prefix(replies[0]) == "TIMEOUT", "proposed write: %r" % replies[0])
    check(prefix(replies[1]) == "NOTLEADER", "queued write: %r" % replies[1])
    check(prefix(replies[2]) == "BUSY", "refused write: %r" % replies[2])
    settle(cluster, (1, 2, 3))
    for k in (1, 2):
        check(set(get_all(cluster, (1, 2, 3), "alone%d" % k).values()) == {None},
              "alone%d (definite error) never applied" % k)
    v0 = set(get_all(cluster, (1, 2, 3), "alone0").values())
    check(len(v0) == 1, "alone0 agrees everywhere: %r" % v0)
    print("  the -TIMEOUT write is %s" % ("applied" if v0 == {b"v"} else "not applied"))


def other_errors(cluster):
    leader = cluster.leader()
    c = cluster.client(leader)
    r = c.cmd("SET", "big", "x" * 2000)
    check(prefix(r) == "TOOLARGE", "value over the limit: %r" % r)
    r = c.cmd("SET", "k")
    check(prefix(r) == "ERR", "arity: %r" % r)
    c.cmd("SET", "notint", "abc")
    r = c.cmd("INCR", "notint")
    check(prefix(r) == "ERR", "INCR of a string: %r" % r)
    check(c.cmd("GET", "notint") == b"abc", "unchanged")
    c.close()
    check(set(get_all(cluster, [cluster.leader()], "big").values()) == {None}, "big not applied")


def churn(cluster):
    """Writers pipeline unique keys through every node while leadership moves around with
    full queues: whatever each reply says, the state afterwards agrees with it."""
    replies = {}
    stop = time.time() + 4.0
    lock = threading.Lock()

    def writer(node, tag):
        c = Resp(cluster.client_ports[node], timeout=10)
        n = 0
        while time.time() < stop:
            keys = ["%s-%d" % (tag, n + k) for k in range(20)]
            n += 20
            c.send_raw(b"".join(c.encode("SET", k, "v") for k in keys))
            got = [c.read() for _ in keys]
            with lock:
                replies.update(zip(keys, got))
        c.close()

    threads = [threading.Thread(target=writer, args=(i, "w%d" % i)) for i in (1, 2, 3)]
    for t in threads:
        t.start()
    transfers = 0
    while time.time() < stop:
        try:
            leader = cluster.leader(timeout=2)
            to = leader % 3 + 1
            c = cluster.client(leader)
            if c.cmd("BALLOT.TRANSFER", str(to)) == "OK":
                transfers += 1
            c.close()
        except Exception:
            pass
        time.sleep(0.3)
    for t in threads:
        t.join()
    settle(cluster, (1, 2, 3))
    counts = {}
    c = cluster.client(cluster.leader())
    keys = sorted(replies)
    values = []
    for at in range(0, len(keys), 200):
        chunk = keys[at:at + 200]
        c.send_raw(b"".join(c.encode("GET", k) for k in chunk))
        values += [c.read() for _ in chunk]
    c.close()
    for key, value in zip(keys, values):
        r = replies[key]
        kind = prefix(r) or "OK"
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "OK":
            check(value == b"v", "%s acknowledged but missing" % key)
        elif kind in DEFINITE:
            check(value is None, "%s answered %r (definite) but applied" % (key, r))
        else:
            check(kind in INDETERMINATE, "%s: unexpected reply %r" % (key, r))
    print("churn: %d transfers, replies %r" % (transfers, counts))
    check(transfers >= 3, "leadership moved")


def run(cluster):
    lone_node(cluster)
    forwarded_then_no_leader(cluster)
    leader_alone(cluster)
    other_errors(cluster)
    # Queues of 8 instead of 1: writes are taken, then resubmitted as leadership moves.
    cluster.stop_all()
    cluster.extra_args = ["--request-timeout-ms", str(TIMEOUT_MS), "--pending-commands-max", "8"]
    cluster.start_all()
    churn(cluster)


if __name__ == "__main__":
    main(run, "server_errors",
         extra_args=["--request-timeout-ms", str(TIMEOUT_MS), "--window-slots", "1",
                     "--pending-commands-max", "1", "--value-bytes-max", "1000"])
