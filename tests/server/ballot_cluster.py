"""Multi-process test harness for ballotd: starts nodes on free loopback ports in a temporary
directory, talks RESP to them, kills and restarts them. Python 3 standard library only."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SANITIZED = os.environ.get("BALLOT_SANITIZED") == "1"
# Everything is slower under ASan/UBSan; waits scale with this.
SLOW = 4.0 if SANITIZED else 1.0


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def free_ports(count):
    """Random high ports that can be bound right now (parallel ctest runs pick others)."""
    ports = set()
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(1000):
        if len(ports) == count:
            break
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            ports.add(port)
        except OSError:
            pass
        finally:
            s.close()
    check(len(ports) == count, "no free ports")
    return sorted(ports)


class RespError(Exception):
    pass


class Resp:
    """A RESP2 client. Replies: str for simple strings, bytes for bulk, int, None for nil,
    list for arrays, RespError instances (returned, not raised) for errors."""

    def __init__(self, port, timeout=5.0, ssl_ctx=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_ctx is not None:
            self.sock = ssl_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise TestFailure("bad reply line %r" % line)

    def cmd(self, *args):
        self.send_raw(self.encode(*args))
        return self.read()

    def closed_by_server(self, timeout=5.0):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout * SLOW)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionError, OSError):
            return True
        except socket.timeout:
            return False


def info(port, ssl_ctx=None):
    c = Resp(port, ssl_ctx=ssl_ctx)
    try:
        text = c.cmd("INFO")
    finally:
        c.close()
    fields = {}
    for line in text.decode().split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


class Cluster:
    """peer_auth: "psk" (default: `ballot keygen` key files in the cluster's directory),
    "insecure" (--peer-insecure: tests that forge raw peer frames), or "none" (no peer flag
    at all: the test passes its own in extra_args)."""

    def __init__(self, build_dir, nodes=3, extra_args=(), name="cluster", peer_auth="psk",
                 metrics=False, grow=False):
        self.ballotd = os.path.join(build_dir, "ballotd")
        self.ballot = os.path.join(build_dir, "ballot")
        check(os.access(self.ballotd, os.X_OK), "%s not built" % self.ballotd)
        self.dir = tempfile.mkdtemp(prefix="ballot-%s-" % name)
        self.n = nodes
        ports = free_ports((3 if metrics else 2) * nodes)
        self.client_ports = {i + 1: ports[i] for i in range(nodes)}
        self.peer_ports = {i + 1: ports[nodes + i] for i in range(nodes)}
        # metrics=True: each node serves /metrics and /health (--metrics-addr) on these.
        self.metrics_ports = ({i + 1: ports[2 * nodes + i] for i in range(nodes)}
                              if metrics else {})
        self.extra_args = list(extra_args)
        self.cluster_id = random.randrange(1, 1 << 40)
        self.procs = {}
        self.logs = {}
        self.started = set()
        self.peer_auth = peer_auth
        self.client_ssl = None  # an ssl.SSLContext when the nodes serve clients over TLS
        # grow: members may be added (add_node, then start with --join): even a single
        # founding node gets a peer listener and peer keys.
        self.grow = grow
        self.joining = set()  # ids started with --join instead of --peers
        self.join_contact = {}  # joining id -> the member whose peer address --join names
        self.key_dir = os.path.join(self.dir, "keys")
        if peer_auth == "psk" and (nodes > 1 or grow):
            out = subprocess.run([self.ballot, "keygen", "--nodes", str(nodes), "--out",
                                  self.key_dir], capture_output=True)
            check(out.returncode == 0, "ballot keygen: %r" % out.stderr)

    def key_file(self, i):
        return os.path.join(self.key_dir, "node%d.key" % i)

    def peer_auth_args(self, i):
        if (self.n == 1 and not self.grow) or self.peer_auth == "none":
            return []
        if self.peer_auth == "insecure":
            return ["--peer-insecure"]
        return ["--peer-key-file", self.key_file(i)]

    def data_dir(self, i):
        return os.path.join(self.dir, "node%d" % i)

    def add_node(self, i, contact=1):
        """A new node i on fresh ports, to be started with --join (its peer address is
        self.peer_addr(i)); contact is the member whose peer address --join names."""
        check(i not in self.client_ports, "node %d exists already" % i)
        ports = free_ports(2)
        self.client_ports[i] = ports[0]
        self.peer_ports[i] = ports[1]
        self.joining.add(i)
        self.join_contact[i] = contact

    def peer_addr(self, i):
        return "127.0.0.1:%d" % self.peer_ports[i]

    def join_args(self, i):
        return [self.ballotd, "--id", str(i), "--data-dir", self.data_dir(i),
                "--client", "127.0.0.1:%d" % self.client_ports[i], "--peer", self.peer_addr(i),
                "--join", self.peer_addr(self.join_contact[i]),
                "--cluster-id", str(self.cluster_id)] + self.peer_auth_args(i) + self.extra_args

    def args(self, i, rejoin=False, bootstrap=None):
        if i in self.joining:
            return self.join_args(i)
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.peer_ports[j]) for j in range(1, self.n + 1))
        clients = ",".join("%d=127.0.0.1:%d" % (j, self.client_ports[j])
                           for j in range(1, self.n + 1))
        a = [self.ballotd, "--id", str(i), "--data-dir", self.data_dir(i),
             "--client", "127.0.0.1:%d" % self.client_ports[i], "--peers", peers,
             "--peer-clients", clients, "--cluster-id", str(self.cluster_id)]
        if rejoin:
            a.append("--rejoin")
        # A node founds the cluster on its first start only (--bootstrap); later starts
        # find their data, and an emptied data dir then rejoins.
        if bootstrap is None:
            bootstrap = not rejoin and i not in self.started
        if bootstrap:
            a.append("--bootstrap")
        if i in self.metrics_ports:
            a += ["--metrics-addr", "127.0.0.1:%d" % self.metrics_ports[i]]
        return a + self.peer_auth_args(i) + self.extra_args

    def start(self, i, rejoin=False, wait=True, bootstrap=None):
        log = open(os.path.join(self.dir, "node%d.log" % i), "ab")
        self.logs[i] = log
        self.procs[i] = subprocess.Popen(self.args(i, rejoin, bootstrap), stdout=log, stderr=log)
        self.started.add(i)
        if wait:
            self.wait_up(i)

    def start_all(self):
        for i in range(1, self.n + 1):
            self.start(i, wait=False)
        for i in range(1, self.n + 1):
            self.wait_up(i)

    def wait_up(self, i, timeout=10.0):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            check(self.procs[i].poll() is None,
                  "node %d exited with %s:\n%s" % (i, self.procs[i].returncode, self.log_text(i)))
            try:
                c = Resp(self.client_ports[i], timeout=1.0, ssl_ctx=self.client_ssl)
                r = c.cmd("PING")
                c.close()
                if r == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TestFailure("node %d did not come up" % i)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(i)
        p.send_signal(sig)
        code = p.wait(timeout=20 * SLOW)
        self.logs.pop(i).close()
        return code

    def stop_all(self):
        codes = {}
        for i in list(self.procs):
            codes[i] = self.kill(i, signal.SIGTERM)
        return codes

    def log_text(self, i):
        try:
            with open(os.path.join(self.dir, "node%d.log" % i), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def leader(self, timeout=10.0, exclude=()):
        """The id of the node that reports itself leader (and that the others follow)."""
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            for i in self.procs:
                if i in exclude:
                    continue
                try:
                    f = info(self.client_ports[i], self.client_ssl)
                except OSError:
                    continue
                if f.get("role") == "leader" and f.get("lease_held") == "1":
                    return i
            time.sleep(0.05)
        raise TestFailure("no leader within %.1fs" % (timeout * SLOW))

    def http_get(self, i, path, timeout=5.0):
        """(status, body text) of GET path on node i's --metrics-addr."""
        import urllib.error
        import urllib.request
        url = "http://127.0.0.1:%d%s" % (self.metrics_ports[i], path)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        try:
            with opener.open(url, timeout=timeout * SLOW) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def client(self, i):
        return Resp(self.client_ports[i], ssl_ctx=self.client_ssl)

    def write_retry(self, i, *args, timeout=10.0):
        """A write that retries NOTLEADER/TIMEOUT/connection errors until it succeeds."""
        deadline = time.time() + timeout * SLOW
        last = None
        while time.time() < deadline:
            try:
                c = self.client(i)
                r = c.cmd(*args)
                c.close()
                if not isinstance(r, RespError):
                    return r
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TestFailure("write %r on node %d kept failing: %r" % (args, i, last))

    def wait_applied(self, nodes, timeout=15.0):
        """Waits until the given nodes report the same applied index (and commit)."""
        deadline = time.time() + timeout * SLOW
        seen = None
        while time.time() < deadline:
            seen = {}
            for i in nodes:
                try:
                    f = info(self.client_ports[i], self.client_ssl)
                    seen[i] = (int(f["applied_index"]), int(f["commit_index"]))
                except OSError:
                    seen[i] = None
            vals = set(seen.values())
            if None not in vals and len(vals) == 1:
                return seen
            time.sleep(0.05)
        raise TestFailure("nodes did not converge: %r" % seen)

    def cleanup(self, ok):
        for i in list(self.procs):
            try:
                self.kill(i, signal.SIGKILL)
            except Exception:
                pass
        if ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("logs kept in %s" % self.dir)
            for i in sorted(self.client_ports):
                print("---- node %d log (tail) ----" % i)
                print("\n".join(self.log_text(i).splitlines()[-40:]))


def main(test_fn, name, **cluster_kwargs):
    """Runs test_fn(cluster) with a fresh cluster; exit status 0 on success."""
    build = None
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "--build":
        build = argv[1]
    check(build is not None, "usage: %s --build BUILD_DIR" % sys.argv[0])
    cluster = Cluster(build, name=name, **cluster_kwargs)
    ok = False
    started = time.time()
    try:
        test_fn(cluster)
        ok = True
    except (TestFailure, AssertionError, OSError, subprocess.SubprocessError) as e:
        print("FAIL: %s: %r" % (name, e))
    finally:
        cluster.cleanup(ok)
    print("%s: %s in %.1fs" % (name, "ok" if ok else "FAILED", time.time() - started))
    sys.exit(0 if ok else 1)
