"""The `ballot` CLI against a real 3-node cluster (docs/cli.md): help and usage errors that
name the bad argument, exit codes (0 found, 1 not found, 2 usage, 3 unavailable, 4 refused,
5 unknown outcome), -w simple|table|json, values from stdin past the argument-list limit,
-MOVED and leader hints followed, endpoint status|health, transfer-leader through a
follower, trace errors naming the file, and status agreeing with INFO on a lone survivor."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from ballot_cluster import SLOW, check, info, main  # noqa: E402


def run_cli(cluster, *args, stdin=None, nodes=None, timeout=20):
    addrs = nodes if nodes is not None else ",".join(
        "127.0.0.1:%d" % cluster.client_ports[i] for i in sorted(cluster.procs))
    cmd = [cluster.ballot, "--cluster", addrs] + list(args)
    out = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout * SLOW)
    return out.returncode, out.stdout, out.stderr.decode(errors="replace")


def expect(result, code, what):
    rc, out, err = result
    check(rc == code, "%s: exit %d, expected %d; stdout %r stderr %r" % (what, rc, code,
                                                                         out[:300], err[:300]))
    return out, err


class FakeNode:
    """A RESP server on loopback that answers every command with one fixed error line, to
    drive the CLI's handling of -MOVED, -NOTLEADER and -TIMEOUT."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                data = conn.recv(65536)
                if data:
                    self.requests += 1
                    conn.sendall(self.reply)
            except OSError:
                pass
            conn.close()

    def close(self):
        self.stop = True
        self.sock.close()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port


def usage_errors(cluster):
    b = cluster.ballot
    for args in (["-h"], ["--help"], ["help"], ["get", "--help"], ["get", "-h"],
                 ["endpoint", "--help"], ["transfer-leader", "-h"], ["trace", "--help"],
                 ["snapshot", "--help"], ["keygen", "--help"], ["help", "status"]):
        out = subprocess.run([b] + args, capture_output=True, timeout=10)
        check(out.returncode == 0 and b"usage:" in out.stdout,
              "ballot %s: %r %r" % (" ".join(args), out.returncode, out.stdout[:200]))
    out = subprocess.run([b, "--version"], capture_output=True, timeout=10)
    check(out.returncode == 0 and out.stdout.startswith(b"ballot "), "--version %r" % out.stdout)
    cases = [
        (["get"], "missing KEY"),
        (["get", "a", "b"], "unexpected argument 'b'"),
        (["set", "k"], "missing VALUE"),
        (["cas", "k", "x"], "missing NEW"),
        (["--bogus", "get", "k"], "unknown option '--bogus'"),
        (["get", "k", "--bogus"], "unknown option '--bogus'"),
        (["frob"], "unknown command 'frob'"),
        (["-w", "xml", "status"], "-w 'xml'"),
        (["--timeout", "abc", "status"], "--timeout 'abc'"),
        (["--cluster", "nocolon", "status"], "'nocolon' is not HOST:PORT"),
        (["transfer-leader", "x"], "'x' is not a node id"),
        (["endpoint", "frob"], "unknown endpoint command 'frob'"),
        (["snapshot", "frob"], "unknown command 'frob'"),
        ([], "no command given"),
    ]
    for args, message in cases:
        out = subprocess.run([b] + args, capture_output=True, timeout=10)
        err = out.stderr.decode()
        check(out.returncode == 2, "ballot %s: exit %d, expected 2" % (args, out.returncode))
        check(message in err, "ballot %s: stderr %r lacks %r" % (args, err, message))
        check(len(err.splitlines()) <= 2 or args == [],
              "ballot %s: a usage dump instead of one line: %r" % (args, err))
    out = subprocess.run([b, "trace", "/nonexistent/nosuchfile"], capture_output=True,
                         timeout=10)
    err = out.stderr.decode()
    check(out.returncode == 1 and "/nonexistent/nosuchfile" in err and
          "No such file or directory" in err, "trace nosuchfile: %r %r" % (out.returncode, err))


def kv_and_formats(cluster):
    out, err = expect(run_cli(cluster, "get", "missing"), 1, "get of a missing key")
    check(out == b"", "get of a missing key printed %r" % out)
    for fmt in ("table", "json"):
        out, _ = expect(run_cli(cluster, "-w", fmt, "get", "missing"), 1, "-w %s get" % fmt)
        check(out == b"", "-w %s get of a missing key printed %r" % (fmt, out))
    out, _ = expect(run_cli(cluster, "set", "greeting", "hello"), 0, "set")
    check(out == b"OK\n", "set printed %r" % out)
    out, _ = expect(run_cli(cluster, "get", "greeting"), 0, "get")
    check(out == b"hello\n", "get printed %r" % out)
    out, _ = expect(run_cli(cluster, "set", "nil", "(nil)"), 0, "set (nil)")
    out, _ = expect(run_cli(cluster, "get", "nil"), 0, "get of the value (nil)")
    check(out == b"(nil)\n", "get (nil) printed %r" % out)
    out, _ = expect(run_cli(cluster, "-w", "json", "get", "greeting"), 0, "-w json get")
    check(json.loads(out) == {"key": "greeting", "value": "hello"}, "json get %r" % out)
    out, _ = expect(run_cli(cluster, "get", "greeting", "--write-out=table"), 0, "table get")
    text = out.decode()
    check("| KEY" in text and "| greeting | hello |" in text and text.startswith("+"),
          "table get %r" % text)
    expect(run_cli(cluster, "set", "bin", "-", stdin=b"\xff\x00\x01"), 0, "binary set")
    out, _ = expect(run_cli(cluster, "-w", "json", "get", "bin"), 0, "json binary get")
    check(json.loads(out) == {"key": "bin", "value_base64": "/wAB"}, "base64 %r" % out)
    out, _ = expect(run_cli(cluster, "-w", "json", "set", "k2", "v2"), 0, "json set")
    check(json.loads(out) == {"key": "k2", "ok": True}, "json set %r" % out)
    out, _ = expect(run_cli(cluster, "incr", "n"), 0, "incr")
    check(out == b"1\n", "incr %r" % out)
    out, _ = expect(run_cli(cluster, "-w", "json", "incr", "n"), 0, "json incr")
    check(json.loads(out) == {"key": "n", "value": 2}, "json incr %r" % out)
    out, _ = expect(run_cli(cluster, "-w", "json", "exists", "n", "k2", "nope"), 0, "exists")
    check(json.loads(out) == {"exists": 2}, "json exists %r" % out)
    out, _ = expect(run_cli(cluster, "-w", "json", "cas", "k2", "v2", "v3"), 0, "cas")
    check(json.loads(out) == {"key": "k2", "swapped": True}, "json cas %r" % out)
    out, _ = expect(run_cli(cluster, "cas", "k2", "v2", "v4"), 0, "cas refused")
    check(out == b"0\n", "cas stale %r" % out)
    out, _ = expect(run_cli(cluster, "del", "k2", "nope"), 0, "del")
    check(out == b"1\n", "del %r" % out)
    # A refusal by the cluster: exit 4, the server's reason on stderr.
    _, err = expect(run_cli(cluster, "incr", "greeting"), 4, "incr on text")
    check("not an integer" in err, "incr refusal %r" % err)
    # A value far past the argument-list limit (~128 KiB per argument) through stdin.
    big = os.urandom(300 * 1024)
    slow = "%d" % (20000 * SLOW)
    expect(run_cli(cluster, "--timeout", slow, "set", "big", "-", stdin=big, timeout=60), 0,
           "set big from stdin")
    out, _ = expect(run_cli(cluster, "get", "big"), 0, "get big")
    check(out == big + b"\n", "big value read back: %d bytes" % len(out))
    _, err = expect(run_cli(cluster, "cas", "big", "x", "-", stdin=b"y"), 0, "cas stdin")
    # snapshot status in the three formats.
    snap = os.path.join(cluster.dir, "cli.snap")
    expect(run_cli(cluster, "--timeout", slow, "snapshot", "save", snap, timeout=60), 0,
           "snapshot save")
    out, _ = expect(run_cli(cluster, "snapshot", "status", snap, "-w", "json"), 0,
                    "snapshot status -w json")
    rows = json.loads(out)
    check(len(rows) == 1 and rows[0]["checksum"] == "ok" and rows[0]["keys"] >= 5,
          "snapshot status json %r" % rows)
    out, _ = expect(run_cli(cluster, "-w", "table", "snapshot", "status", snap), 0,
                    "snapshot status table")
    check("| CHECKSUM" in out.decode() and "| ok " in out.decode(), "table %r" % out)
    out, _ = expect(run_cli(cluster, "snapshot", "status", snap), 0, "snapshot status")
    check(b"checksum: ok" in out, "simple %r" % out)


def settled(fn, what, tries=20):
    """fn() until it passes: an election under load may be running at the first look."""
    for k in range(tries):
        try:
            return fn()
        except Exception:
            if k == tries - 1:
                raise
            cluster_pause()
    raise AssertionError(what)


def cluster_pause():
    time.sleep(0.25 * SLOW)


def status_and_endpoints(cluster, leader):
    def status():
        out, _ = expect(run_cli(cluster, "status"), 0, "status")
        text = out.decode()
        check(text.startswith("NODE") and "leader" in text and "r0.n0" not in text,
              "status %r" % text)
        out, _ = expect(run_cli(cluster, "-w", "json", "status"), 0, "json status")
        rows = json.loads(out)
        check(len(rows) == 3, "json status rows %r" % rows)
        roles = sorted(r["role"] for r in rows)
        check(roles == ["follower", "follower", "leader"], "roles %r" % roles)
        for r in rows:
            f = info(cluster.client_ports[int(r["node"][1:])])
            check(r["leader"] == "n%s" % f["leader_id"], "status leader vs INFO: %r %r" % (r, f))

    def endpoints():
        out, _ = expect(run_cli(cluster, "endpoint", "status", "-w", "table"), 0,
                        "endpoint status")
        text = out.decode()
        check("| ENDPOINT" in text and "IS LEADER" in text and text.count("| true ") == 1,
              "endpoint status table %r" % text)
        out, _ = expect(run_cli(cluster, "-w", "json", "endpoint", "status"), 0, "endpoint json")
        rows = json.loads(out)
        check([r["is_leader"] for r in rows].count(True) == 1, "one leader %r" % rows)
        check(all(r["id"] in (1, 2, 3) and r["commit"] >= 1 for r in rows), "ids %r" % rows)

    def health():
        out, _ = expect(run_cli(cluster, "endpoint", "health"), 0, "endpoint health")
        check(out.decode().count("is healthy") == 3, "health %r" % out)
        out, _ = expect(run_cli(cluster, "-w", "json", "endpoint", "health"), 0, "health json")
        check(all(r["health"] is True for r in json.loads(out)), "health json %r" % out)

    settled(status, "status")
    settled(endpoints, "endpoint status")
    settled(health, "endpoint health")


def redirects(cluster, leader):
    real = "127.0.0.1:%d" % cluster.client_ports[leader]
    moved = FakeNode(b"-MOVED 0 " + real.encode() + b"\r\n")
    out, _ = expect(run_cli(cluster, "get", "greeting", nodes=moved.address), 0, "via -MOVED")
    check(out == b"hello\n" and moved.requests == 1, "followed -MOVED: %r" % out)
    expect(run_cli(cluster, "set", "moved", "yes", nodes=moved.address), 0, "set via -MOVED")
    hint = FakeNode(b"-NOTLEADER this node does not lead; leader is n%d at %s\r\n"
                    % (leader, real.encode()))
    out, _ = expect(run_cli(cluster, "get", "moved", nodes=hint.address), 0, "via hint")
    check(out == b"yes\n", "followed the leader hint: %r" % out)
    # A loop of redirects ends: exit 3 (unavailable), not a hang.
    loop = FakeNode(b"")
    loop.reply = b"-MOVED 0 " + loop.address.encode() + b"\r\n"
    _, err = expect(run_cli(cluster, "get", "x", nodes=loop.address), 3, "redirect loop")
    check("redirects" in err, "redirect loop %r" % err)
    # No leader known: retried until --timeout, then exit 3.
    noleader = FakeNode(b"-NOTLEADER no leader is known (an election may be running)\r\n")
    start = time.time()
    _, err = expect(run_cli(cluster, "--timeout", "600", "get", "x", nodes=noleader.address),
                    3, "no leader")
    check(noleader.requests >= 2 and time.time() - start < 5 * SLOW,
          "no leader: %d requests in %.1fs" % (noleader.requests, time.time() - start))
    # A write that timed out may have happened: exit 5, never resent.
    timeout = FakeNode(b"-TIMEOUT the write was not committed within 5000 ms\r\n")
    _, err = expect(run_cli(cluster, "set", "x", "y", nodes=timeout.address + "," + real), 5,
                    "write timeout")
    check(timeout.requests == 1, "an indeterminate write was resent: %d" % timeout.requests)
    # Nobody listening: exit 3.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    expect(run_cli(cluster, "--timeout", "300", "get", "x", nodes=addr), 3, "nobody there")
    for f in (moved, hint, loop, noleader, timeout):
        f.close()


def transfer_through_follower(cluster, leader):
    follower = leader % cluster.n + 1
    target = follower % cluster.n + 1
    if target == leader:
        target = target % cluster.n + 1
    only = "127.0.0.1:%d" % cluster.client_ports[follower]
    out, err = expect(run_cli(cluster, "transfer-leader", "n%d" % target, nodes=only), 0,
                      "transfer-leader via a follower")
    check(("n%d leads" % target).encode() in out, "transfer output %r" % out)
    check(cluster.leader() == target, "leadership moved to n%d" % target)
    return target


def lone_survivor(cluster, leader):
    survivor = leader
    for i in list(cluster.procs):
        if i != survivor:
            cluster.kill(i)
    time.sleep(1.0 * SLOW)
    addrs = ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in (1, 2, 3))
    out, _ = expect(run_cli(cluster, "-w", "json", "--timeout", "1000", "status", nodes=addrs),
                    3, "status with two nodes down")
    rows = json.loads(out)
    up = [r for r in rows if r["role"] != "down"]
    check(len(up) == 1, "one node up %r" % rows)
    r = up[0]
    f = info(cluster.client_ports[survivor])
    # The same vocabulary as INFO's role, and no made-up ballot for a node without leader.
    check(r["role"] in ("leader", "follower", "candidate"), "role %r" % r)
    check(r["ballot"] != "r0.n0" and "r0.n0" not in out.decode(), "ballot %r" % r)
    check(f["role"] in ("leader", "follower", "candidate"), "INFO role %r" % f)
    if f["leader_id"] == "0":
        check(r["leader"] == "-" and r["ballot"] == "-" or r["leader"] != "-",
              "no leader: %r vs INFO %r" % (r, f))
    out, _ = expect(run_cli(cluster, "-w", "json", "--timeout", "1000", "endpoint", "health",
                            nodes=addrs), 3, "health with two down")
    check([x["health"] for x in json.loads(out)] == [False, False, False],
          "health %r" % out)


def run(cluster):
    usage_errors(cluster)
    cluster.start_all()
    leader = cluster.leader()
    kv_and_formats(cluster)
    status_and_endpoints(cluster, leader)
    redirects(cluster, cluster.leader())
    leader = transfer_through_follower(cluster, cluster.leader())
    lone_survivor(cluster, leader)
    cluster.stop_all()


if __name__ == "__main__":
    main(run, "client_cli")
