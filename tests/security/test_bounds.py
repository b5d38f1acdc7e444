"""Memory and connection attacks against real ballotd processes (docs/operations.md
"Bounds"): many peer connections each holding part of a frame that declares 8 MiB, many
clients pipelining large GETs without reading, idle sockets up to --max-clients, and a
request left half sent. RSS (VmRSS from /proc) stays under the stated bound, writes keep
committing meanwhile, and new clients still get in. Loopback only; bounded in count and
time (seconds)."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

import peerwire as pw  # noqa: E402
from ballot_cluster import SANITIZED, SLOW, Resp, check, info, main  # noqa: E402

MIB = 1024 * 1024
BUDGET = 64 * MIB  # --buffer-bytes-max
INPUT_TIMEOUT_MS = 2000
IDLE_TIMEOUT_MS = int(5000 * SLOW)
MAX_CLIENTS = 48
# What the node may hold beyond its resting RSS: the budget, one read per connection in a
# loop iteration and allocator slack (docs/operations.md "Bounds").
SLACK = 48 * MIB


class Writer(threading.Thread):
    """Keeps writing through the leader and counts the writes that committed."""

    def __init__(self, cluster, leader):
        super().__init__(daemon=True)
        self.cluster, self.leader = cluster, leader
        self.ok = 0
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                c = Resp(self.cluster.client_ports[self.leader], timeout=2.0)
                while not self.stop.is_set():
                    if c.cmd("SET", "w%d" % (i % 50), str(i)) == "OK":
                        self.ok += 1
                    i += 1
                    time.sleep(0.01)
            except OSError:
                time.sleep(0.05)


def peak_rss(pid, seconds, samples):
    peak = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        peak = max(peak, pw.rss_bytes(pid))
        time.sleep(0.05)
    samples.append(peak)
    return peak


def check_rss(base, peak):
    # ASan keeps freed memory in its quarantine: RSS says nothing about the bound there.
    if SANITIZED:
        return
    check(peak - base <= BUDGET + SLACK, "RSS grew by %.1f MiB, over the %d MiB budget + slack"
          % ((peak - base) / MIB, BUDGET // MIB))


def closed_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def partial_peer_frames(cluster, node, writer):
    """80 connections, each sends a header declaring ~8 MiB and then 3 MiB of it."""
    pid = cluster.procs[node].pid
    base = pw.rss_bytes(pid)
    socks = []
    chunk = b"\0" * (3 * MIB)
    samples = []
    sampler = threading.Thread(target=peak_rss, args=(pid, 4.0 * SLOW, samples), daemon=True)
    sampler.start()
    for _ in range(80):
        s = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=2 * SLOW)
        socks.append(s)
        try:
            s.sendall(pw.header_only(pw.FRAME_MSG, 8 * MIB - 64) + chunk)
        except OSError:
            pass  # closed by the node: over its budget
    sampler.join()
    peak = samples[0]
    print("peer partial frames: rss %.1f MiB at rest, peak %.1f MiB (budget %d MiB)"
          % (base / MIB, peak / MIB, BUDGET // MIB))
    check_rss(base, peak)
    # Whatever is still open is closed once the input time limit runs out.
    open_left = [s for s in socks if not closed_within(s, 0.01)]
    wait = (INPUT_TIMEOUT_MS / 1000.0 + 1.0) * SLOW
    for s in open_left:
        check(closed_within(s, wait), "a half-sent frame is closed after --input-timeout-ms")
        wait = 0.2
    for s in socks:
        s.close()
    log = cluster.log_text(node)
    check("buffer budget" in log or "left incomplete" in log,
          "the closes are logged:\n%s" % log[-2000:])


def slow_readers(cluster, node, writer):
    """30 clients pipeline 100 GETs of a 1 MiB value each and never read."""
    c = cluster.client(node)
    check(c.cmd("SET", "big", "v" * MIB) == "OK", "SET big")
    c.close()
    pid = cluster.procs[node].pid
    base = pw.rss_bytes(pid)
    request = Resp.encode("GET", "big") * 100
    socks = []
    samples = []
    sampler = threading.Thread(target=peak_rss, args=(pid, 4.0 * SLOW, samples), daemon=True)
    sampler.start()
    for _ in range(30):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(2 * SLOW)
        s.connect(("127.0.0.1", cluster.client_ports[node]))
        try:
            s.sendall(request)
        except OSError:
            pass
        socks.append(s)
    sampler.join()
    peak = samples[0]
    print("slow readers: rss %.1f MiB at rest, peak %.1f MiB (budget %d MiB)"
          % (base / MIB, peak / MIB, BUDGET // MIB))
    check_rss(base, peak)
    for s in socks:
        s.close()
    check("buffer budget" in cluster.log_text(node),
          "slow readers are dropped with a log line:\n%s" % cluster.log_text(node)[-2000:])
    f = info(cluster.client_ports[node])
    check(int(f["buffer_budget_closes"]) > 0 and f["buffer_bytes_max"] == str(BUDGET),
          "INFO counts the budget closes: %r" % {k: f.get(k) for k in (
              "buffer_budget_closes", "buffer_bytes_max", "buffered_bytes")})


def idle_and_half_sent(cluster, node):
    """Idle sockets up to --max-clients do not lock new clients out; a half-sent request
    and idle sockets are closed after their time limits."""
    idle = [socket.create_connection(("127.0.0.1", cluster.client_ports[node]), timeout=5)
            for _ in range(MAX_CLIENTS)]
    time.sleep(1.5 * SLOW)  # eviction takes clients idle for at least 1 s
    c = Resp(cluster.client_ports[node])
    check(c.cmd("PING") == "PONG", "a new client gets in with --max-clients idle sockets open")
    c.close()
    half = socket.create_connection(("127.0.0.1", cluster.client_ports[node]), timeout=5)
    half.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
    check(closed_within(half, (INPUT_TIMEOUT_MS / 1000.0 + 1.0) * SLOW),
          "a half-sent request is closed after --input-timeout-ms")
    deadline = time.time() + (IDLE_TIMEOUT_MS / 1000.0 + 1.5) * SLOW
    for s in idle:
        check(closed_within(s, max(0.01, deadline - time.time())),
              "idle sockets are closed after --client-idle-timeout-ms")
        s.close()
    half.close()
    log = cluster.log_text(node)
    check("to make room" in log and "idle" in log, "evictions are logged:\n%s" % log[-2000:])


def run(cluster):
    try:
        steps(cluster)
    except ConnectionError:
        import traceback
        traceback.print_exc()
        raise


def steps(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = leader % cluster.n + 1
    writer = Writer(cluster, leader)
    writer.start()
    try:
        before = writer.ok
        partial_peer_frames(cluster, follower, writer)
        slow_readers(cluster, leader, writer)
        time.sleep(0.5)
        check(writer.ok > before + 20, "writes kept committing (%d)" % (writer.ok - before))
        idle_and_half_sent(cluster, follower)
    finally:
        writer.stop.set()
        writer.join(5)
    for i, p in cluster.procs.items():
        check(p.poll() is None, "node %d alive" % i)
    cluster.wait_applied(list(cluster.procs))
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_bounds", peer_auth="insecure",
         extra_args=("--buffer-bytes-max", str(BUDGET), "--input-timeout-ms",
                     str(INPUT_TIMEOUT_MS), "--client-idle-timeout-ms", str(IDLE_TIMEOUT_MS),
                     "--max-clients", str(MAX_CLIENTS)))
