"""Membership change with real processes while 16 clients write: a cluster founded with one
node grows to 3 and 5 voters (each new node joins with --join, is added as a learner,
catches up and is promoted), shrinks back to 3 (the leader removes itself), and a killed
node whose disk is lost is replaced by a new node under a new id at a new address. At the
end every acknowledged write is present on every member. The changes are made with the
`ballot member` commands of docs/operations.md ("Membership"), in the order its recipes
give."""

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time

from ballot_cluster import SLOW, Resp, TestFailure, check, info, main

WRITERS = 16
# Small snapshots, so that nodes added later receive the state as a snapshot (with the
# membership inside) rather than the whole log.
EXTRA = ["--snapshot-every-slots", "300", "--snapshot-log-keep-slots", "50", "--window-slots", "16"]


class Writers:
    """16 threads writing distinct keys through whichever members are targets; a write is
    acknowledged when a node answered OK."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.targets = []
        self.acked = {}
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(WRITERS)]

    def set_targets(self, ids):
        with self.lock:
            self.targets = list(ids)

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, t):
        rng = random.Random(t)
        conns = {}
        k = 0
        deadline = time.time() + 300 * SLOW  # a bound; stop() ends it much sooner
        while not self.stop.is_set() and time.time() < deadline and k < 100000:
            key, value = "w%d-%d" % (t, k), "v%d-%d" % (t, k)
            for _attempt in range(20):
                if self.stop.is_set():
                    break
                with self.lock:
                    targets = list(self.targets)
                i = rng.choice(targets)
                try:
                    c = conns.get(i)
                    if c is None:
                        c = conns[i] = Resp(self.cluster.client_ports[i], timeout=3.0)
                    r = c.cmd("SET", key, value)
                except (OSError, TestFailure):
                    old = conns.pop(i, None)
                    if old is not None:
                        old.close()
                    time.sleep(0.01)
                    continue
                if r == "OK":
                    with self.lock:
                        self.acked[key] = value
                    break
                time.sleep(0.01)  # NOTLEADER, TIMEOUT, BUSY: elsewhere or later
            k += 1
        for c in conns.values():
            c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30 * SLOW)
        with self.lock:
            return dict(self.acked)


def member_cli(cluster, members, *args):
    addrs = ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in members)
    return subprocess.run([cluster.ballot, "--cluster", addrs, "member"] + list(args),
                          capture_output=True, text=True, timeout=30 * SLOW)


def members_json(cluster, members):
    out = member_cli(cluster, members, "list", "-w", "json")
    check(out.returncode == 0, "ballot member list: %s" % out.stderr)
    return json.loads(out.stdout)


def wait_state(cluster, members, want, timeout=30.0):
    """Waits until the leader's list has the roles `want` (id -> role), all in effect."""
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        try:
            last = members_json(cluster, members)
        except (TestFailure, ValueError, subprocess.SubprocessError) as e:
            last = e
            time.sleep(0.1)
            continue
        roles = {m["id"]: m["role"] for m in last["members"]}
        if roles == want and all(m["effective"] for m in last["members"]):
            return last
        time.sleep(0.05)
    raise TestFailure("membership never became %r: %r" % (want, last))


def change(cluster, members, *args, timeout=30.0):
    """`ballot member ARGS` until it succeeds; BUSY (an earlier change not in effect yet),
    TRYAGAIN (a learner still behind) and NOTLEADER (an election) are retried."""
    deadline = time.time() + timeout * SLOW
    out = None
    while time.time() < deadline:
        out = member_cli(cluster, members, *args)
        if out.returncode == 0:
            return
        if not any(w in out.stderr for w in ("BUSY", "TRYAGAIN", "NOTLEADER", "no node")):
            raise TestFailure("ballot member %s: %s" % (" ".join(args), out.stderr))
        time.sleep(0.05)
    raise TestFailure("ballot member %s kept failing: %s" % (" ".join(args), out.stderr))


def add_node(cluster, writers, members, i):
    """docs/operations.md "Adding a node": start it with --join, add it as a learner,
    wait until it has caught up, promote it."""
    cluster.add_node(i, contact=members[0])
    cluster.start(i)
    change(cluster, members, "add", str(i), cluster.peer_addr(i))
    deadline = time.time() + 30 * SLOW
    while True:
        listed = {m["id"]: m for m in members_json(cluster, members)["members"]}
        if listed[i]["lag"] != -1 and listed[i]["lag"] < 200:
            break
        check(time.time() < deadline, "n%d never caught up: %r" % (i, listed[i]))
        time.sleep(0.05)
    change(cluster, members, "promote", str(i))
    members.append(i)
    writers.set_targets(members)
    wait_state(cluster, members, {m: "voter" for m in members})


def remove_node(cluster, writers, members, i):
    """docs/operations.md "Removing a node": remove it, wait until the removal is in
    effect, stop it."""
    members.remove(i)
    writers.set_targets(members)
    change(cluster, members + [i], "remove", str(i))
    wait_state(cluster, members, {m: "voter" for m in members})
    cluster.kill(i, signal.SIGTERM)


def check_all_present(cluster, members, acked):
    cluster.wait_applied(members, timeout=30.0)
    keys = sorted(acked)
    for i in members:
        c = cluster.client(i)
        check(c.cmd("READONLY") == "OK", "READONLY")  # this node's own state
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            c.send_raw(b"".join(c.encode("GET", k) for k in part))
            for k in part:
                got = c.read()
                check(got == acked[k].encode(),
                      "n%d: acknowledged %s=%s reads %r" % (i, k, acked[k], got))
        c.close()


def test(cluster):
    started = time.time()
    cluster.start(1)
    cluster.leader()
    members = [1]
    writers = Writers(cluster)
    writers.set_targets(members)
    writers.start()

    # 1 -> 3 -> 5 voters.
    for i in (2, 3, 4, 5):
        add_node(cluster, writers, members, i)
    grown = time.time()
    listed = members_json(cluster, members)
    check(len(listed["members"]) == 5 and listed["epoch"] == 8,
          "5 voters after 8 changes: %r" % listed)
    table = member_cli(cluster, members, "list")
    check(table.returncode == 0 and "PEER ADDRESS" in table.stdout, "table: %r" % table)

    # A joined voter restarts like any node: from its own WAL and snapshot, which hold the
    # membership (the same command line, --join included).
    again = next(m for m in (4, 3, 2) if m != cluster.leader())
    check(cluster.kill(again, signal.SIGTERM) == 0, "n%d stops cleanly" % again)
    cluster.start(again)
    wait_state(cluster, members, {m: "voter" for m in members})
    check(info(cluster.client_ports[again]).get("voter") == "1", "n%d votes" % again)

    # 5 -> 3: the leader removes itself first (it steps down once the change is in effect),
    # then one more.
    leader = cluster.leader()
    remove_node(cluster, writers, members, leader)
    new_leader = cluster.leader(exclude=(leader,))
    check(new_leader in members, "the new leader n%d is a member" % new_leader)
    other = next(m for m in members if m != new_leader)
    remove_node(cluster, writers, members, other)
    shrunk = time.time()

    # A lost disk: a follower is killed and its data directory deleted; it is replaced by
    # node 6 at a new address (docs/operations.md "Replacing a node", "A lost disk").
    lost = next(m for m in members if m != cluster.leader())
    members.remove(lost)
    writers.set_targets(members)
    cluster.kill(lost)
    shutil.rmtree(cluster.data_dir(lost))
    change(cluster, members, "remove", str(lost))
    wait_state(cluster, members, {m: "voter" for m in members})
    add_node(cluster, writers, members, 6)
    replaced = time.time()

    time.sleep(0.3)
    acked = writers.finish()
    check(len(acked) > 100, "only %d writes acknowledged" % len(acked))
    check(sorted(members_json(cluster, members)["members"][i]["id"] for i in range(3)) ==
          sorted(members), "final members %r" % members)
    check_all_present(cluster, members, acked)
    # PEERS holds the incarnations of members only: removed ids are forgotten.
    for i in members:
        with open(os.path.join(cluster.data_dir(i), "PEERS")) as f:
            known = {int(line.split()[1]) for line in f if line.startswith("node ")}
        check(known == set(members) - {i}, "PEERS of n%d names %r" % (i, sorted(known)))
    print("grow 1->5 %.1fs, shrink 5->3 %.1fs, replace %.1fs; %d acknowledged writes on "
          "members %r" % (grown - started, shrunk - grown, replaced - shrunk, len(acked),
                          sorted(members)))


if __name__ == "__main__":
    main(test, "membership", nodes=1, grow=True, extra_args=EXTRA)
