"""Real ballotd processes under faults, with a linearizability check (docs/reliability.md).

Starts 3 or 5 ballotd nodes whose peer links go through a userspace proxy per directed link
(netproxy.py), runs 16 client connections spread over all nodes doing GET/SET/CAS/INCR/DEL
on a small key set, records every operation (invoke, then ok / fail / info, with monotonic
times), injects faults from a seeded schedule (kill -9 and restart, SIGSTOP/SIGCONT,
partitions: isolate, majority/minority, bridge, one-way; slow and reset links; clock jumps
and skew with libfaketime; disk faults with an LD_PRELOAD shim), then heals everything,
reads every key on every node and checks:

  - the history of every key is linearizable (linearizability.py), which covers acknowledged
    writes: a lost or reordered one makes some read, final ones included, impossible;
  - all nodes converge: same applied index, and the same value of every key on every node;
  - availability, reported (not failed): per fault, the longest time with no write
    acknowledged, and how long after the fault's end writes resumed (goal: 2 s).

usage: nemesis.py --build DIR [--seed N] [--nodes 3|5] [--faults N] [--short] [--long]
                  [--skew-beyond] [--kinds k1,k2] [--disk-shim LIB] [--keep]

Every run prints its seed; the same --seed replays the same fault schedule (kinds, order,
timings, parameters; which node is the leader is decided at run time). On failure it prints
the anomaly and `ballot trace` of every node's trace around it. Exit 0 pass, 1 fail,
77 cannot run here (no libfaketime)."""

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import ballot_cluster as bc  # noqa: E402
import linearizability as lin  # noqa: E402

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLIENTS = 16
WRITE_KINDS = ("set", "cas", "incr", "del")
# Every fault kind the schedule draws from, and whether it leaves a majority connected.
KINDS = ["kill", "pause", "isolate-leader", "isolate-follower", "split", "bridge",
         "oneway-out", "oneway-in", "slow", "reset", "clock-jump", "clock-skew",
         "disk-slow", "disk-full", "disk-eio"]


def log(msg):
    print("[%7.2f] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()


class Proxy:
    """The netproxy.py process: one listener per directed link."""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-B", os.path.join(HERE, "netproxy.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def cmd(self, line):
        with self.lock:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
            reply = self.p.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise bc.TestFailure("proxy: %s -> %s" % (line, reply))
        return reply

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


class NemesisCluster(bc.Cluster):
    """ballot_cluster.Cluster whose peers are reached through the proxy, each start with its
    own trace file, and optionally libfaketime and the disk shim preloaded."""

    def __init__(self, build, nodes, seed, faketime, no_cache, disk_shim):
        super().__init__(build, nodes=nodes, name="nemesis",
                         extra_args=["--seed", str(seed)])
        self.proxy = Proxy()
        ports = bc.free_ports(nodes * nodes)
        self.link_port = {}
        k = 0
        for i in range(1, nodes + 1):
            for j in range(1, nodes + 1):
                if i != j:
                    self.link_port[(i, j)] = ports[k]
                    self.proxy.cmd("listen %d %d %d %d" % (i, j, ports[k], self.peer_ports[j]))
                    k += 1
        self.faketime = faketime
        self.no_cache = no_cache
        self.disk_shim = disk_shim
        self.clock_offset = {i: 0.0 for i in range(1, nodes + 1)}
        self.clock_rate = {i: 1.0 for i in range(1, nodes + 1)}
        self.starts = collections.Counter()
        self.traces = []
        self.paused = set()
        for i in range(1, nodes + 1):
            self.write_clock(i)
            self.set_disk(i, "none")

    def args(self, i, rejoin=False, bootstrap=None):
        a = super().args(i, rejoin, bootstrap)
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.peer_ports[j] if j == i
                                             else self.link_port[(i, j)])
                         for j in range(1, self.n + 1))
        a[a.index("--peers") + 1] = peers
        self.starts[i] += 1
        trace = os.path.join(self.dir, "node%d.%d.trace" % (i, self.starts[i]))
        self.traces.append(trace)
        return a + ["--trace", trace]

    def clock_file(self, i):
        return os.path.join(self.dir, "node%d.faketime" % i)

    def write_clock(self, i):
        with open(self.clock_file(i) + ".tmp", "w") as f:
            f.write("%+.3f x%.3f\n" % (self.clock_offset[i], self.clock_rate[i]))
        os.replace(self.clock_file(i) + ".tmp", self.clock_file(i))

    def disk_file(self, i):
        return os.path.join(self.dir, "node%d.disk" % i)

    def set_disk(self, i, what):
        with open(self.disk_file(i) + ".tmp", "w") as f:
            f.write(what + "\n")
        os.replace(self.disk_file(i) + ".tmp", self.disk_file(i))

    def start(self, i, rejoin=False, wait=True, bootstrap=None):
        env = dict(os.environ)
        preload = []
        if self.faketime:
            preload.append(FAKETIME_LIB)
            env["FAKETIME_TIMESTAMP_FILE"] = self.clock_file(i)
            if self.no_cache:
                env["FAKETIME_NO_CACHE"] = "1"
            else:
                env["FAKETIME_CACHE_DURATION"] = "1"
        if self.disk_shim:
            preload.append(self.disk_shim)
            env["BALLOT_DISK_SHIM_CTL"] = self.disk_file(i)
            env["BALLOT_DISK_SHIM_DIR"] = self.data_dir(i)
        if preload:
            env["LD_PRELOAD"] = ":".join(preload + ([env["LD_PRELOAD"]]
                                                    if env.get("LD_PRELOAD") else []))
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0"
        log_f = open(os.path.join(self.dir, "node%d.log" % i), "ab")
        self.logs[i] = log_f
        self.procs[i] = subprocess.Popen(self.args(i, rejoin, bootstrap), stdout=log_f,
                                         stderr=log_f, env=env)
        self.started.add(i)
        self.paused.discard(i)
        if wait:
            self.wait_up(i, timeout=20.0)

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def signal(self, i, sig):
        if i in self.procs:
            try:
                self.procs[i].send_signal(sig)
            except OSError:
                pass

    def cleanup(self, ok):
        for i in list(self.paused):
            self.signal(i, signal.SIGCONT)
        self.proxy.close()
        super().cleanup(ok)


# ---------------------------------------------------------------- clients and history

class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []  # dicts: client, node, key, kind, arg, result, known, t0, t1, status

    def add(self, op):
        with self.lock:
            self.ops.append(op)


def classify(kind, reply):
    """(status, result) of a reply: status ok (definite answer), fail (did not happen),
    info (may or may not have happened)."""
    if isinstance(reply, bc.RespError):
        text = str(reply)
        if kind == "get":
            return "fail", text
        if kind == "incr" and "not an integer" in text:
            return "ok", "ERR"
        # Refused at entry, before any request exists (src/server/commands.c).
        if text.startswith("BUSY") or text.startswith("ERR wrong") or \
                text.startswith("ERR syntax") or text.startswith("ERR disk full"):
            return "fail", text
        # NOTLEADER, TIMEOUT, disk full, stale request: a forwarded or queued write may
        # still have been chosen.
        return "info", text
    if kind == "get":
        return "ok", reply
    if kind == "set":
        return ("ok", "OK") if reply == "OK" else ("info", reply)
    if kind in ("cas", "del", "incr"):
        return ("ok", reply) if isinstance(reply, int) else ("info", reply)
    return "info", reply


class Client(threading.Thread):
    def __init__(self, cid, node, cluster, history, keys, stop, seed, read_bias=0.4):
        super().__init__(daemon=True)
        self.cid = cid
        self.node = node
        self.cluster = cluster
        self.history = history
        self.keys = keys
        self.stop = stop
        self.rng = random.Random(seed * 1000 + cid)
        self.conn = None
        self.seen = {}
        self.counter = 0
        self.read_bias = read_bias
        self.stats = collections.Counter()

    def connect(self):
        try:
            self.conn = bc.Resp(self.cluster.client_ports[self.node], timeout=1.0)
            self.conn.sock.settimeout(6.0 * bc.SLOW)  # past --request-timeout-ms (5 s)
            return True
        except OSError:
            self.conn = None
            return False

    def pick(self):
        key = self.rng.choice(self.keys)
        r = self.rng.random()
        if r < self.read_bias:
            return key, "get", None, ("GET", key)
        r = self.rng.random()
        self.counter += 1
        value = b"%d" % (self.cid * 10_000_000 + self.counter * 1000)
        if r < 0.35:
            return key, "set", value, ("SET", key, value)
        if r < 0.6:
            exp = self.seen.get(key)
            if exp is None:
                return key, "set", value, ("SET", key, value)
            return key, "cas", (exp, value), ("CAS", key, exp, value)
        if r < 0.9:
            return key, "incr", None, ("INCR", key)
        return key, "del", None, ("DEL", key)

    def run(self):
        while not self.stop.is_set():
            if self.conn is None and not self.connect():
                self.stop.wait(0.1)
                continue
            key, kind, arg, cmd = self.pick()
            op = {"client": self.cid, "node": self.node, "key": key, "kind": kind,
                  "arg": arg, "t0": time.monotonic()}
            try:
                reply = self.conn.cmd(*cmd)
                op["t1"] = time.monotonic()
                status, result = classify(kind, reply)
            except (OSError, ConnectionError, bc.TestFailure) as e:
                op["t1"] = time.monotonic()
                status, result = ("fail" if kind == "get" else "info"), repr(e)
                try:
                    self.conn.close()
                except OSError:
                    pass
                self.conn = None
            op["status"] = status
            op["result"] = result
            op["known"] = status == "ok"
            self.stats[(kind, status)] += 1
            if status == "ok":
                if kind == "get":
                    self.seen[key] = result
                elif kind == "set":
                    self.seen[key] = arg
                elif kind == "cas" and result == 1:
                    self.seen[key] = arg[1]
            self.history.add(op)  # failed ones are kept for the statistics, not checked
            # After an error a client waits a little longer, as real ones back off.
            pause = 0.01 if status == "ok" else 0.05
            self.stop.wait(self.rng.uniform(0.0, pause))
        if self.conn is not None:
            self.conn.close()


class Monitor(threading.Thread):
    """Polls INFO on every node every 100 ms: role, ballot, leader, peers_up."""

    def __init__(self, cluster, stop):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop = stop
        self.samples = []  # (t, node, role, leader_id, ballot, peers_up)

    def run(self):
        while not self.stop.is_set():
            for i in range(1, self.cluster.n + 1):
                if not self.cluster.alive(i) or i in self.cluster.paused:
                    continue
                try:
                    c = bc.Resp(self.cluster.client_ports[i], timeout=0.3)
                    text = c.cmd("INFO")
                    c.close()
                    f = dict(line.split(":", 1) for line in text.decode().split("\r\n")
                             if ":" in line and not line.startswith("#"))
                    self.samples.append((time.monotonic(), i, f.get("role"),
                                         int(f.get("leader_id", "0")), f.get("ballot"),
                                         int(f.get("peers_up", "0"))))
                except (OSError, ValueError, AttributeError):
                    pass
            self.stop.wait(0.1)

    def leader(self, within=1.0):
        """Of the nodes whose latest sample (in the last `within` seconds) says leader, the
        one with the highest ballot; None when there is none."""
        now = time.monotonic()
        latest = {}
        for s in reversed(self.samples):
            if now - s[0] > within:
                break
            latest.setdefault(s[1], s)
        best = None
        for s in latest.values():
            if s[2] == "leader" and (best is None or ballot_key(s[4]) > ballot_key(best[4])):
                best = s
        return best[1] if best else None


def ballot_key(text):
    """r7.n2 -> (7, 2)."""
    try:
        r, n = text.split(".")
        return int(r[1:]), int(n[1:])
    except (AttributeError, ValueError):
        return (0, 0)


# ---------------------------------------------------------------- the fault schedule

def make_schedule(seed, count, kinds, nodes, short):
    rng = random.Random(seed)
    plan = []
    for k in range(count):
        kind = kinds[k % len(kinds)] if short else rng.choice(kinds)
        f = {"kind": kind, "duration": round(rng.uniform(1.0, 3.0) if not short
                                             else rng.uniform(0.8, 1.5), 2),
             "quiet": round(rng.uniform(1.5, 3.0) if not short else 1.2, 2),
             "pick": rng.random(), "pick2": rng.random()}
        if kind == "slow":
            f["delay_ms"] = rng.choice([30, 60, 110])
            f["jitter_ms"] = f["delay_ms"] // 2
        if kind == "clock-jump":
            f["jump_ms"] = rng.randint(5, 20)  # within --drift-ms 25
        if kind == "clock-skew":
            f["rate"] = round(rng.choice([0.97, 0.98, 1.02, 1.03]), 3)  # within 10 %
        if kind == "disk-slow":
            f["ms"] = rng.choice([50, 150, 300])
        if kind == "split" and nodes == 5:
            f["leader_side"] = rng.choice(["minority", "majority"])
        if kind in ("kill", "pause"):
            f["target"] = rng.choice(["leader", "follower"])
        plan.append(f)
    return plan


class Nemesis:
    def __init__(self, cluster, monitor, rng):
        self.c = cluster
        self.m = monitor
        self.rng = rng
        self.n = cluster.n
        self.down = set()
        self.log = []  # fault records

    def nodes(self):
        return list(range(1, self.n + 1))

    def leader_or_any(self, pick):
        ldr = self.m.leader()
        if ldr is None:
            ldr = self.nodes()[int(pick * self.n)]
        return ldr

    def follower(self, ldr, pick):
        others = [i for i in self.nodes() if i != ldr]
        return others[int(pick * len(others))]

    def cut(self, a_set, b_set, mode="blackhole", oneway=False):
        for a in a_set:
            for b in b_set:
                self.c.proxy.cmd("set %d %d %s" % (a, b, mode))
                if not oneway:
                    self.c.proxy.cmd("set %d %d %s" % (b, a, mode))

    def apply(self, f):
        """Starts fault f; returns a description and a function that ends it."""
        kind = f["kind"]
        ldr = self.leader_or_any(f["pick"])
        nodes = self.nodes()
        if kind in ("kill", "pause"):
            t = ldr if f.get("target") == "leader" else self.follower(ldr, f["pick2"])
            if kind == "kill":
                self.c.kill(t, signal.SIGKILL)
                return "kill -9 n%d" % t, lambda: self.c.start(t, wait=False)
            self.c.signal(t, signal.SIGSTOP)
            self.c.paused.add(t)

            def cont():
                self.c.signal(t, signal.SIGCONT)
                self.c.paused.discard(t)
            return "SIGSTOP n%d" % t, cont
        if kind == "isolate-leader":
            self.cut([ldr], [i for i in nodes if i != ldr])
            return "isolate leader n%d" % ldr, self.heal
        if kind == "isolate-follower":
            t = self.follower(ldr, f["pick2"])
            self.cut([t], [i for i in nodes if i != t])
            return "isolate follower n%d (leader n%d)" % (t, ldr), self.heal
        if kind == "split":
            size = (self.n - 1) // 2
            others = [i for i in nodes if i != ldr]
            self.rng.shuffle(others)
            if f.get("leader_side", "minority") == "minority":
                minority = [ldr] + others[:size - 1]
            else:
                minority = others[:size]
            majority = [i for i in nodes if i not in minority]
            self.cut(minority, majority)
            return "split %s | %s" % (minority, majority), self.heal
        if kind == "bridge":
            others = [i for i in nodes if i != ldr]
            self.rng.shuffle(others)
            bridge = others[0] if f["pick2"] < 0.5 else ldr
            rest = [i for i in nodes if i != bridge]
            left, right = rest[:len(rest) // 2], rest[len(rest) // 2:]
            self.cut(left, right)
            return "bridge %s - n%d - %s" % (left, bridge, right), self.heal
        if kind in ("oneway-out", "oneway-in"):
            others = [i for i in nodes if i != ldr]
            if kind == "oneway-out":
                self.cut([ldr], others, oneway=True)
                return "one-way: n%d's messages to the others dropped" % ldr, self.heal
            self.cut(others, [ldr], oneway=True)
            return "one-way: messages to n%d dropped" % ldr, self.heal
        if kind == "slow":
            others = [i for i in nodes if i != ldr]
            for o in others:
                for a, b in ((ldr, o), (o, ldr)):
                    self.c.proxy.cmd("set %d %d delay %d %d" % (a, b, f["delay_ms"],
                                                                f["jitter_ms"]))
            return "slow leader n%d links %d ms + 0-%d ms" % (ldr, f["delay_ms"],
                                                             f["jitter_ms"]), self.heal
        if kind == "reset":
            self.cut([ldr], [i for i in nodes if i != ldr], mode="reset")
            return "reset leader n%d links (refused while on)" % ldr, self.heal
        if kind == "clock-jump":
            t = nodes[int(f["pick2"] * self.n)]
            self.c.clock_offset[t] += f["jump_ms"] / 1000.0
            self.c.write_clock(t)
            return "clock of n%d jumps +%d ms" % (t, f["jump_ms"]), lambda: None
        if kind == "clock-skew":
            t = nodes[int(f["pick2"] * self.n)]
            self.c.kill(t, signal.SIGKILL)
            self.c.clock_rate[t] = f["rate"]
            self.c.write_clock(t)
            self.c.start(t, wait=False)

            def back():
                # libfaketime's rate counts from the process start: restart at x1 so the
                # node's log and trace times do not drift away for the rest of the run.
                if self.c.alive(t):
                    self.c.kill(t, signal.SIGKILL)
                self.c.clock_rate[t] = 1.0
                self.c.write_clock(t)
                self.c.start(t, wait=False)
            return "n%d restarted with its clock at x%.3f" % (t, f["rate"]), back
        if kind in ("disk-slow", "disk-full", "disk-eio"):
            if kind == "disk-eio":
                t = self.follower(ldr, f["pick2"])
            else:
                t = ldr if f["pick2"] < 0.5 else self.follower(ldr, f["pick2"])
            what = {"disk-slow": "slow fdatasync %d" % f.get("ms", 100),
                    "disk-full": "enospc pwrite", "disk-eio": "eio fdatasync"}[kind]
            self.c.set_disk(t, what)

            def end():
                self.c.set_disk(t, "none")
                if kind == "disk-eio" and not self.c.alive(t):
                    if t in self.c.procs:
                        self.c.procs.pop(t).wait()
                        self.c.logs.pop(t).close()
                    self.c.start(t, wait=False)
            return "disk of n%d: %s" % (t, what), end
        raise ValueError(kind)

    def heal(self):
        self.c.proxy.cmd("heal")


# ---------------------------------------------------------------- analysis

def write_windows(ops):
    """Completion times of acknowledged writes, sorted."""
    return sorted(o["t1"] for o in ops if o["kind"] in WRITE_KINDS and o["status"] == "ok")


def longest_gap(times, start, end):
    """Longest interval within [start, end] with no time in `times`."""
    prev = start
    gap = 0.0
    for t in times:
        if t < start:
            continue
        if t > end:
            break
        gap = max(gap, t - prev)
        prev = t
    return max(gap, end - prev)


def first_after(times, t):
    for x in times:
        if x >= t:
            return x
    return None


def leader_changes(samples, start, end):
    """Distinct leader ballots seen by INFO between start and end."""
    ballots = []
    for s in samples:
        if start <= s[0] <= end and s[2] == "leader" and s[4] not in ballots:
            ballots.append(s[4])
    return ballots


def elections(cluster, mono_to_wall):
    """Monotonic times of every "elected leader" line in the nodes' logs (log times are each
    node's wall clock, so a node whose clock libfaketime moved is off by that much)."""
    import datetime
    out = []
    for i in range(1, cluster.n + 1):
        for line in cluster.log_text(i).splitlines():
            if " elected leader at " not in line:
                continue
            try:
                t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
            except ValueError:
                continue
            wall = t.replace(tzinfo=datetime.timezone.utc).timestamp()
            out.append((wall - mono_to_wall, i, line.rsplit(" ", 1)[-1]))
    return sorted(out)


def check_history(ops, wall_of):
    by_key = collections.defaultdict(list)
    for o in ops:
        if o["status"] == "fail":
            continue
        by_key[o["key"]].append(o)
    anomalies = []
    gave_up = []
    for key, kops in sorted(by_key.items()):
        r = lin.check(lin.prune_unobserved(kops))
        if not r.ok and not r.gave_up:
            r = lin.check(kops)
        if r.gave_up:
            gave_up.append(key)
        elif not r.ok:
            anomalies.append((key, r, kops))
    return anomalies, gave_up


def print_anomaly(cluster, key, r, kops, wall_of):
    op, state = r.stuck
    print("ANOMALY: key %s is not linearizable (%d operations)" % (key, len(kops)))
    print("  no order of the operations explains the completion of:")
    print("    client %s on n%s: %s, invoked %.3f, completed %.3f" %
          (op["client"], op["node"], lin.describe(op), op["t0"] - T0, op["t1"] - T0))
    print("  value of %s in the longest order found before it: %r" % (key, state))
    lo, hi = op["t0"] - 0.3, op["t1"] + 0.05
    near = [o for o in sorted(kops, key=lambda x: x["t0"])
            if (o["t1"] if o["known"] else float("inf")) >= lo and o["t0"] <= hi]
    if len(near) > 60:  # the latest ones before it matter most
        near = near[-60:]
    print("  operations on %s from %.3f to %.3f (last %d):" % (key, lo - T0, hi - T0, len(near)))
    for o in near:
        print("    %7.3f-%-7s c%-2s n%s %s%s" % (
            o["t0"] - T0, ("%.3f" % (o["t1"] - T0)) if o["known"] else "?", o["client"],
            o["node"], lin.describe(o), "" if o["known"] else "  (info: %s)" % o["result"]))
    traces = [t for t in cluster.traces if os.path.exists(t)]
    if traces:
        # Trace times are each node's own wall clock: widen the window by any clock offset
        # the run gave a node (libfaketime).
        skew = max([abs(v) for v in cluster.clock_offset.values()] + [0.0])
        frm, to = int(wall_of(op["t0"] - 0.5 - skew)), int(wall_of(op["t1"] + 0.2 + skew))
        cmd = [cluster.ballot, "trace", "--nodes", str(cluster.n), "--from", str(frm),
               "--to", str(to)] + traces
        summary = [cmd[0], "trace", "--summary"] + cmd[2:]
        print("  generations around it: %s" % " ".join(summary))
        out = subprocess.run(summary, capture_output=True, text=True, timeout=60)
        for line in out.stdout.splitlines()[:40]:
            print("    " + line)
        print("  ballot trace around it: %s" % " ".join(cmd))
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = out.stdout.splitlines()
        for line in lines[:150]:
            print("    " + line)
        if len(lines) > 150:
            print("    ... %d more lines" % (len(lines) - 150))


# ---------------------------------------------------------------- the run

def wait_converged(cluster, timeout):
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = {}
        for i in range(1, cluster.n + 1):
            try:
                f = bc.info(cluster.client_ports[i])
                seen[i] = (int(f["applied_index"]), int(f["commit_index"]))
            except (OSError, KeyError, ValueError):
                seen[i] = None
        vals = set(seen.values())
        if None not in vals and len(vals) == 1:
            return True, seen
        time.sleep(0.1)
    return False, seen


def final_reads(cluster, keys, history):
    """A linearizable GET of every key on every node (part of the history), and a local
    (READONLY) read of every key on every node, which must be equal everywhere."""
    local = {}
    for i in range(1, cluster.n + 1):
        for key in keys:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    c = cluster.client(i)
                    v = c.cmd("GET", key)
                    c.close()
                except OSError:
                    time.sleep(0.1)
                    continue
                if isinstance(v, bc.RespError):
                    time.sleep(0.1)
                    continue
                history.add({"client": "final", "node": i, "key": key, "kind": "get",
                             "arg": None, "t0": t0, "t1": time.monotonic(), "status": "ok",
                             "result": v, "known": True})
                break
        c = cluster.client(i)
        c.cmd("READONLY")
        local[i] = [c.cmd("GET", k) for k in keys]
        c.close()
    return local


def run(args):
    if args.faketime and not os.path.exists(FAKETIME_LIB):
        print("nemesis: %s missing (Debian libfaketime); cannot run" % FAKETIME_LIB)
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1, 1 << 31)
    print("nemesis: seed %d (replay: --seed %d%s), %d nodes" %
          (seed, seed, " --short" if args.short else "", args.nodes), flush=True)
    rng = random.Random(seed ^ 0x5eed)
    if args.skew_beyond:
        kinds = ["skew-beyond"]
    elif args.kinds:
        kinds = args.kinds.split(",")
    else:
        kinds = list(KINDS)
        if not args.disk_shim:
            kinds = [k for k in kinds if not k.startswith("disk")]
    if args.skew_beyond:
        plan = [{"kind": "skew-beyond", "duration": 1.5, "quiet": 2.0, "jump_ms": 3000}
                for _ in range(args.faults)]
    else:
        plan = make_schedule(seed, args.faults, kinds, args.nodes, args.short)
        for f in plan:
            if args.duration:
                f["duration"] = args.duration
            if args.quiet:
                f["quiet"] = args.quiet
            if args.slow_ms and f["kind"] == "slow":
                f["delay_ms"], f["jitter_ms"] = args.slow_ms, args.slow_ms // 2
    print("schedule: %s" % json.dumps([{k: v for k, v in f.items()
                                        if k not in ("pick", "pick2")} for f in plan]))
    cluster = NemesisCluster(args.build, args.nodes, seed, args.faketime,
                             args.skew_beyond, args.disk_shim)
    keys = ["k%d" % i for i in range(2 if args.skew_beyond else args.keys)]
    stop_clients = threading.Event()
    stop_monitor = threading.Event()
    history = History()
    monitor = Monitor(cluster, stop_monitor)
    clients = []
    ok = False
    faults = []
    unexpected = []
    # Trace times are wall-clock ms: map monotonic times to them.
    mono_to_wall = time.time() - time.monotonic()
    started = time.monotonic()
    try:
        cluster.start_all()
        cluster.leader(timeout=20)
        monitor.start()
        for cid in range(CLIENTS):
            node = cid % args.nodes + 1
            bias = 0.4
            if args.skew_beyond:
                # Readers never block on a write, so those on the isolated leader keep
                # reading through the whole of its lease.
                bias = 1.0 if (cid // args.nodes) % 2 == 0 else 0.1
            clients.append(Client(cid, node, cluster, history, keys, stop_clients, seed, bias))
        for c in clients:
            c.start()
        time.sleep(1.0)
        nem = Nemesis(cluster, monitor, rng)
        for k, f in enumerate(plan):
            if f["kind"] == "skew-beyond":
                ldr = monitor.leader() or cluster.leader(timeout=10)
                others = [i for i in range(1, args.nodes + 1) if i != ldr]
                t_start = time.monotonic()
                nem.cut([ldr], others)
                for o in others:
                    cluster.clock_offset[o] += f["jump_ms"] / 1000.0
                    cluster.write_clock(o)
                desc = "isolate leader n%d, clocks of %s jump +%d ms (past --drift-ms)" % (
                    ldr, others, f["jump_ms"])
                end = nem.heal
            else:
                t_start = time.monotonic()
                desc, end = nem.apply(f)
            log("fault %d/%d %s: %s for %.2fs" % (k + 1, len(plan), f["kind"], desc,
                                                 f["duration"]))
            time.sleep(f["duration"])
            # Blackhole visibility: what INFO says on every node at the fault's end.
            seen = {}
            for s in reversed(monitor.samples):
                if s[0] < time.monotonic() - 0.5:
                    break
                seen.setdefault(s[1], s[5])
            t_end = time.monotonic()
            end()
            log("  healed (%s); peers_up at the end: %s" % (
                f["kind"], " ".join("n%d=%d" % kv for kv in sorted(seen.items()))))
            faults.append({"kind": f["kind"], "desc": desc, "start": t_start, "end": t_end,
                           "peers_up": seen})
            time.sleep(f["quiet"])
            # Keep the cluster whole between faults: a node that died unexpectedly restarts.
            for i in range(1, args.nodes + 1):
                if i in cluster.procs and not cluster.alive(i):
                    code = cluster.procs[i].returncode
                    log("  n%d had exited with %s; restarting it" % (i, code))
                    cluster.procs.pop(i)
                    cluster.logs.pop(i).close()
                    cluster.start(i, wait=False)
                    faults[-1].setdefault("exits", []).append((i, code))
                    if f["kind"] != "disk-eio":
                        unexpected.append("n%d exited with status %s after fault %d (%s)" % (
                            i, code, k + 1, desc))
        # The end: heal everything, let every node catch up, then the final reads.
        nem.heal()
        for i in range(1, args.nodes + 1):
            cluster.set_disk(i, "none")
            if i not in cluster.procs:
                cluster.start(i, wait=False)
        time.sleep(2.0)
        stop_clients.set()
        log("healed; stopping the clients")
        join_deadline = time.monotonic() + 20
        for c in clients:
            c.join(timeout=max(0.1, join_deadline - time.monotonic()))
        log("clients stopped; waiting for every node to apply the same prefix")
        converged, seen = wait_converged(cluster, 30)
        local = final_reads(cluster, keys, history) if converged else {}
        log("final reads done")
        stop_monitor.set()
        monitor.join(timeout=5)
        # ---- verdict
        ops = list(history.ops)
        counts = collections.Counter((o["kind"], o["status"]) for o in ops)
        print("operations: %d (%s)" % (len(ops), ", ".join(
            "%s %s %d" % (k, s, n) for (k, s), n in sorted(counts.items()))))
        reasons = collections.Counter(
            str(o["result"]).split(":")[0].split(" ")[0][:30] for o in ops
            if o["status"] != "ok")
        print("why operations failed or are indeterminate: %s" % ", ".join(
            "%s %d" % kv for kv in reasons.most_common(6)))
        if args.save_history:
            lin.save(args.save_history, ops)
            print("history written to %s" % args.save_history)
        t_check = time.monotonic()
        anomalies, gave_up = check_history(ops, None)
        print("checked %d keys in %.1f s" % (len(keys), time.monotonic() - t_check))
        problems = list(unexpected)
        if not converged:
            problems.append("nodes did not converge within 30 s: %r" % seen)
        else:
            ref = local.get(1)
            for i, vals in local.items():
                if vals != ref:
                    problems.append("n%d holds %r, n1 holds %r" % (i, vals, ref))
        for key, r, kops in anomalies:
            print_anomaly(cluster, key, r, kops, lambda t: (t + mono_to_wall) * 1000)
            problems.append("key %s not linearizable" % key)
        if gave_up:
            problems.append("the checker spent its search budget on keys %s: not shown "
                            "linearizable" % gave_up)
        report_availability(faults, ops, monitor.samples, args.nodes,
                            elections(cluster, mono_to_wall))
        kinds_done = collections.Counter(f["kind"] for f in faults)
        print("faults: %d (%s)" % (len(faults), ", ".join(
            "%s %d" % kv for kv in sorted(kinds_done.items()))))
        print("run time: %.1f s" % (time.monotonic() - started))
        if args.skew_beyond:
            if anomalies:
                print("skew beyond the drift bound: the checker found %d non-linearizable "
                      "key(s), as expected (stale lease reads)" % len(anomalies))
                ok = True
            else:
                print("skew beyond the drift bound: NO anomaly found (expected stale reads)")
            return 0 if ok else 1
        ok = not problems
        for p in problems:
            print("FAIL: %s" % p)
        print("nemesis: %s (seed %d)" % ("ok" if ok else "FAILED", seed))
        return 0 if ok else 1
    finally:
        stop_clients.set()
        stop_monitor.set()
        cluster.cleanup(ok and not args.keep)


def report_availability(faults, ops, samples, nodes, elected):
    writes = write_windows(ops)
    print("availability per fault (writes acknowledged anywhere; goal: resume <= 2 s after "
          "the fault ends):")
    worst = 0.0
    for f in faults:
        gap = longest_gap(writes, f["start"], f["end"] + 3.0)
        nxt = first_after(writes, f["end"])
        resume = (nxt - f["end"]) if nxt is not None else float("inf")
        during = leader_changes(samples, f["start"], f["end"])
        after = leader_changes(samples, f["end"] + 0.001, f["end"] + 2.0)
        before = leader_changes(samples, f["start"] - 1.0, f["start"])
        new_after = [b for b in after if b not in during and b not in before]
        drop = None
        for smp in samples:
            if f["start"] <= smp[0] <= f["end"] and smp[5] < nodes - 1:
                drop = smp[0] - f["start"]
                break
        e_during = [e for e in elected if f["start"] <= e[0] <= f["end"]]
        e_after = [e for e in elected if f["end"] < e[0] <= f["end"] + 2.0]
        f.update(gap=gap, resume=resume, leaders_during=during, new_leaders_after=new_after,
                 peers_down_after=drop, elections_during=len(e_during),
                 elections_after=len(e_after))
        worst = max(worst, resume)
        print("  %-16s %-48s longest gap %5.2fs, resumed %5.2fs after end, elections during "
              "%d (INFO saw %s), elections in 2 s after heal %d, INFO peers_up dropped %s%s" % (
                  f["kind"], f["desc"][:48], gap, resume, len(e_during),
                  ",".join(during) or "-", len(e_after),
                  ("after %.2fs" % drop) if drop is not None else "never",
                  "  (over 2 s)" if resume > 2.0 else ""))
    by_kind = collections.defaultdict(list)
    for f in faults:
        by_kind[f["kind"]].append(f)
    print("summary by kind: kind, count | longest write gap | slowest resume after the end | "
          "elections during faults | faults followed by an election within 2 s of the end | "
          "faults where INFO peers_up dropped")
    for kind, fs in sorted(by_kind.items()):
        print("  %-16s %3d | %5.2fs | %5.2fs | %3d | %3d | %3d" % (
            kind, len(fs), max(f["gap"] for f in fs), max(f["resume"] for f in fs),
            sum(f["elections_during"] for f in fs),
            sum(1 for f in fs if f["elections_after"]),
            sum(1 for f in fs if f["peers_down_after"] is not None)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    ap.add_argument("--faults", type=int)
    ap.add_argument("--keys", type=int, default=6)
    ap.add_argument("--short", action="store_true", help="the ctest run: a few short faults")
    ap.add_argument("--kinds", help="comma-separated fault kinds (default: all)")
    ap.add_argument("--skew-beyond", action="store_true",
                    help="isolate the leader and jump the others' clocks past --drift-ms: "
                         "the checker must see stale reads")
    ap.add_argument("--disk-shim", help="the disk fault shim (libballot_nemesis_disk_shim.so)")
    ap.add_argument("--no-faketime", dest="faketime", action="store_false")
    ap.add_argument("--keep", action="store_true", help="keep the cluster's directory")
    ap.add_argument("--save-history", metavar="FILE",
                    help="write the history as JSON lines (linearizability.py FILE checks it)")
    ap.add_argument("--duration", type=float, help="every fault lasts this many seconds")
    ap.add_argument("--quiet", type=float, help="seconds between faults")
    ap.add_argument("--slow-ms", type=int, help="slow links: this delay, and half as jitter")
    args = ap.parse_args()
    if args.faults is None:
        args.faults = 6 if args.short else (5 if args.skew_beyond else 40)
    if args.short and not args.kinds:
        args.kinds = "kill,isolate-leader,pause,oneway-in,slow,clock-jump"
    sys.exit(run(args))


if __name__ == "__main__":
    main()
