"""The Redis Cluster protocol for one shard (--cluster-enabled yes): CLUSTER SLOTS, SHARDS,
NODES, INFO, MYID, KEYSLOT describe one slot range 0-16383 whose master is the leader;
followers answer -MOVED (READONLY reads excepted); redis-cli -c, redis-py RedisCluster and
ioredis Cluster find the leader, and after kill -9 of the leader under a write loop of
each, writes resume within 2 s, nothing restarted, no acknowledged write lost."""

import json
import os
import re
import signal
import subprocess
import threading
import time

from ballot_cluster import SLOW, check, main

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "..", "security", "clients", "node_modules")
RESUME_S = 2.0 * SLOW


def protocol(cluster):
    leader = cluster.leader()
    follower = [i for i in (1, 2, 3) if i != leader][0]
    c = cluster.client(follower)
    slots = c.cmd("CLUSTER", "SLOTS")
    check(len(slots) == 1 and slots[0][0] == 0 and slots[0][1] == 16383, "one range: %r" % slots)
    check(slots[0][2][1] == cluster.client_ports[leader], "its master is the leader")
    check(sorted(n[1] for n in slots[0][2:]) == sorted(cluster.client_ports.values()),
          "the replicas are the followers")
    myid = c.cmd("CLUSTER", "MYID").decode()
    check(re.fullmatch(r"[0-9a-f]{40}", myid) is not None, "MYID: %r" % myid)
    nodes = c.cmd("CLUSTER", "NODES").decode().splitlines()
    check(len(nodes) == 3, "NODES: %r" % nodes)
    mine = [n for n in nodes if "myself" in n]
    check(len(mine) == 1 and mine[0].startswith(myid), "myself: %r" % mine)
    masters = [n for n in nodes if " master " in n.replace("myself,", " ")]
    check(len(masters) == 1 and "0-16383" in masters[0] and
          ":%d@" % cluster.client_ports[leader] in masters[0], "master line: %r" % masters)
    info = c.cmd("CLUSTER", "INFO").decode()
    check("cluster_state:ok" in info and "cluster_size:1" in info, "INFO: %r" % info)
    shards = c.cmd("CLUSTER", "SHARDS")
    check(len(shards) == 1 and shards[0][1] == [0, 16383] and len(shards[0][3]) == 3,
          "SHARDS: %r" % shards)
    check(c.cmd("CLUSTER", "KEYSLOT", "foo") == 12182, "KEYSLOT foo")
    check(c.cmd("CLUSTER", "KEYSLOT", "{user1}.a") == c.cmd("CLUSTER", "KEYSLOT", "{user1}.b"),
          "hash tags")
    r = c.cmd("SET", "foo", "bar")
    check(str(r) == "MOVED 12182 127.0.0.1:%d" % cluster.client_ports[leader], "MOVED: %r" % r)
    check(cluster.write_retry(leader, "SET", "foo", "bar") == "OK", "SET on the leader")
    check(str(c.cmd("GET", "foo")).startswith("MOVED"), "a linearizable read moves too")
    check(c.cmd("READONLY") == "OK", "READONLY")
    deadline = time.time() + 5 * SLOW
    while c.cmd("GET", "foo") != b"bar":
        check(time.time() < deadline, "READONLY reads on a replica")
        time.sleep(0.05)
    c.close()
    out = subprocess.run(["redis-cli", "-c", "-p", str(cluster.client_ports[follower]),
                          "SET", "via-cli", "1"], capture_output=True, text=True, timeout=30)
    check(out.stdout.strip() == "OK", "redis-cli -c follows MOVED: %r" % out.stdout)


def verify(cluster, leader, acked):
    c = cluster.client(leader)
    keys = sorted(acked)
    for at in range(0, len(keys), 500):
        chunk = keys[at:at + 500]
        c.send_raw(b"".join(c.encode("GET", k) for k in chunk))
        for k in chunk:
            got = c.read()
            check(got == acked[k].encode(), "acknowledged %s is %r, not %r" % (k, got, acked[k]))
    c.close()


def gap_after(times, killed_at):
    """From the kill to the acknowledgement of the first write sent after it; times holds
    (sent, acknowledged) pairs."""
    after = [done for sent, done in times if sent >= killed_at]
    check(after, "no write sent after the kill was acknowledged")
    return after[0] - killed_at


def redis_py(cluster):
    from redis.cluster import RedisCluster

    leader = cluster.leader()
    entry = [i for i in (1, 2, 3) if i != leader][0]
    rc = RedisCluster(host="127.0.0.1", port=cluster.client_ports[entry], socket_timeout=2)
    # Debian 12's redis-py (4.3.4) deep-copies its connection arguments to reconnect to a
    # startup node that failed, and one of them is a method of the client (it holds locks):
    # the copy raises and the client never reinitializes. The method only sends READONLY,
    # which this client (reads from the master) does not use.
    rc.nodes_manager.connection_kwargs.pop("redis_connect_func", None)
    acked = {}
    times = []
    errors = []
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            key = "py-%d" % i
            sent = time.time()
            try:
                if rc.set(key, str(i)):
                    acked[key] = str(i)
                    times.append((sent, time.time()))
                    i += 1
            except Exception as e:  # retried: SET of the same value is idempotent
                errors.append(repr(e))
                time.sleep(0.02)

    t = threading.Thread(target=loop)
    t.start()
    try:
        deadline = time.time() + 10 * SLOW
        while len(acked) < 50:
            check(time.time() < deadline and t.is_alive(), "redis-py writes did not start")
            time.sleep(0.01)
        killed_at = time.time()
        cluster.kill(leader, signal.SIGKILL)
        deadline = killed_at + 10 * SLOW
        while not any(x[0] > killed_at for x in times[-5:]) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    check(any(x[0] > killed_at for x in times),
          "redis-py: no write after the kill: %r" % errors[-3:])
    gap = gap_after(times, killed_at)
    print("redis-py: %d writes acknowledged, %d errors retried, first write %.0f ms after the "
          "kill" % (len(acked), len(errors), gap * 1000))
    check(gap <= RESUME_S, "redis-py resumed %.2fs after the kill (errors %r)" % (gap, errors[-3:]))
    new_leader = cluster.leader(exclude=(leader,))
    verify(cluster, new_leader, acked)
    rc.close()
    cluster.start(leader)  # back as a follower, for the next client
    cluster.wait_applied((1, 2, 3))


def ioredis(cluster):
    check(os.path.isdir(os.path.join(NODE_MODULES, "ioredis")),
          "ioredis is not installed: run `npm ci` in tests/security/clients "
          "(scripts/install-deps.sh does)")
    leader = cluster.leader()
    entry = [i for i in (1, 2, 3) if i != leader][0]
    env = dict(os.environ, NODE_PATH=os.path.abspath(NODE_MODULES))
    p = subprocess.Popen(["node", os.path.join(HERE, "cluster_ioredis.js"),
                          str(cluster.client_ports[entry]), str(int(6000 * SLOW))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            check(False, "ioredis script: %r %s" % (line, p.communicate()[1]))
        killed_at = time.time() * 1000
        cluster.kill(leader, signal.SIGKILL)
        out, err = p.communicate(timeout=60 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == 0, "ioredis script failed: %s" % err)
    got = json.loads(out.strip().splitlines()[-1])
    times = [(sent, done) for _, sent, done in got["acked"]]
    check(any(sent > killed_at for sent, _ in times),
          "ioredis: no write after the kill (%d writes; %d errors: %r)" %
          (len(times), got["errors"], got["lastErrors"]))
    gap = gap_after(times, killed_at) / 1000
    print("ioredis: %d writes acknowledged, %d errors retried, first write %.0f ms after the "
          "kill" % (len(times), got["errors"], gap * 1000))
    check(gap <= RESUME_S, "ioredis resumed %.2fs after the kill (%r)" % (gap, got["lastErrors"]))
    acked = {k: k.split("-", 1)[1] for k, _, _ in got["acked"]}
    verify(cluster, cluster.leader(exclude=(leader,)), acked)


def run(cluster):
    cluster.start_all()
    protocol(cluster)
    redis_py(cluster)
    ioredis(cluster)


if __name__ == "__main__":
    main(run, "server_cluster", extra_args=["--cluster-enabled", "yes"])
