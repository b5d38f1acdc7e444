"""scripts/run.sh (`make run`) survives one node dying: kill -9 the leader, the other two
keep serving writes, run.sh names the node that stopped and prints the command that starts
it again; that command (run.sh --restart N) brings it back on its data and it catches up;
SIGINT to the first run.sh stops every node, the restarted one too. Runs on a temp data
directory and free ports (BALLOT_DATA, BALLOT_CLIENT_PORT_BASE, BALLOT_PEER_PORT_BASE)."""

import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from ballot_cluster import RespError, Resp, check, info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLOW = 3.0 if os.environ.get("BALLOT_SANITIZED") else 1.0


def port_base():
    """A base such that base+1..3, base+1001..1003 and base+2001..2003 can all be bound now."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        base = rng.randrange(20000, 30000)
        ok = True
        for port in [base + off + i for i in (1, 2, 3) for off in (0, 1000, 2000)]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    raise AssertionError("no free ports")


class Output:
    """Collects a process's merged output lines on a thread."""

    def __init__(self, proc):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for raw in proc.stdout:
            with self.lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            with self.lock:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
            time.sleep(0.05)
        raise AssertionError("no line matching %r in:\n%s" % (pattern, "\n".join(self.lines[-40:])))


def leader(ports, exclude=(), timeout=15.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        for i, port in ports.items():
            if i in exclude:
                continue
            try:
                f = info(port)
            except OSError:
                continue
            if f.get("role") == "leader" and f.get("lease_held") == "1":
                return i
        time.sleep(0.05)
    raise AssertionError("no leader")


def write(port, key, value, timeout=15.0):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        try:
            c = Resp(port)
            r = c.cmd("SET", key, value)
            c.close()
            if not isinstance(r, RespError):
                return
            last = r
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("SET %s on port %d kept failing: %r" % (key, port, last))


def read(port, key):
    c = Resp(port)
    try:
        return c.cmd("GET", key)
    finally:
        c.close()


def wait_value(port, key, value, timeout=15.0):
    deadline = time.time() + timeout * SLOW
    got = None
    while time.time() < deadline:
        try:
            got = read(port, key)
            if got == value:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("port %d: %s is %r, not %r" % (port, key, got, value))


def check_health(port):
    """The node's /health answers 200 (run.sh passes --metrics-addr)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.time() + 10 * SLOW
    last = None
    while time.time() < deadline:
        try:
            with opener.open("http://127.0.0.1:%d/health" % port, timeout=5 * SLOW) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("/health on %d: %r" % (port, last))


def run(build, data):
    base = port_base()
    env = dict(os.environ)
    env.update(BALLOTD=os.path.join(build, "ballotd"), BALLOT_DATA=data,
               BALLOT_CLIENT_PORT_BASE=str(base), BALLOT_PEER_PORT_BASE=str(base + 1000),
               BALLOT_METRICS_PORT_BASE=str(base + 2000))
    env.pop("BALLOT_RUN_ARGS", None)
    ports = {i: base + i for i in (1, 2, 3)}
    procs = []
    try:
        main = subprocess.Popen([os.path.join(ROOT, "scripts", "run.sh")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(main)
        out = Output(main)
        out.wait_for(r"run.sh: 3 nodes up", 10)
        first = leader(ports)
        check_health(base + 2000 + first)
        for k in range(20):
            write(ports[first], "before%d" % k, "v%d" % k)

        pid = int(open(os.path.join(data, "node%d" % first, "run.pid")).read())
        os.kill(pid, signal.SIGKILL)
        stopped = r"run.sh: node %d \(pid %d\) stopped with exit status (\d+) \(killed by SIGKILL\)"
        m = out.wait_for(stopped % (first, pid), 10)
        check(m.group(1) == "137", "exit status of kill -9 reported (%s)" % m.group(1))
        cmd = out.wait_for(r"run.sh:     (.*scripts/run.sh --restart %d)$" % first, 5).group(1)
        others = [i for i in ports if i != first]
        second = leader(ports, exclude=(first,))
        check(second != first, "a new leader was elected")
        for k in range(20):
            write(ports[others[k % 2]], "during%d" % k, "d%d" % k)
        check(main.poll() is None, "run.sh still runs after one node died")

        # The printed command, as a user would paste it in another terminal.
        restarted = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, env=os.environ.copy(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        procs.append(restarted)
        rout = Output(restarted)
        rout.wait_for(r"run.sh: node %d started again" % first, 10)
        for k in range(20):
            wait_value(ports[first], "during%d" % k, b"d%d" % k)
        wait_value(ports[first], "before19", b"v19")
        write(ports[first], "after-restart", "yes")
        wait_value(ports[others[0]], "after-restart", b"yes")

        os.killpg(main.pid, signal.SIGINT)
        main.wait(timeout=20 * SLOW)
        restarted.wait(timeout=20 * SLOW)
        out.wait_for(r"run.sh: stopping the cluster", 1)
        check(main.returncode == 0, "first run.sh exit status %d" % main.returncode)
        for i, port in ports.items():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                raise AssertionError("node %d still listening after Ctrl-C" % i)
            except OSError:
                pass
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()


def main():
    argv = sys.argv[1:]
    build = argv[1] if len(argv) >= 2 and argv[0] == "--build" else None
    check(build is not None, "usage: %s --build BUILD_DIR" % sys.argv[0])
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="ballot-run-") as data:
        ok = False
        try:
            run(os.path.abspath(build), data)
            ok = True
        except Exception as e:  # noqa: BLE001 - any failure fails the test
            print("FAIL: server_run_script: %r" % (e,))
    print("server_run_script: %s in %.1fs" % ("ok" if ok else "FAILED", time.time() - started))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
