"""Protected mode. Without a users file ballotd serves loopback clients only; a client from
any other address gets Redis's -DENIED message and is disconnected. `--protected-mode no`
lifts that (with a warning in the log); with a users file the remote client is served but
must AUTH.

A non-loopback client needs a non-loopback address: the test re-runs itself inside a new
network namespace (unshare -n, as root) where it gives its own loopback device the
documentation address 192.0.2.1 (RFC 5737) besides 127.0.0.1. Nothing leaves that
namespace: it has no other interface. Where namespaces cannot be made, it exits 77
(skipped) and the address classifier stays covered by test_acl_units."""

import os
import shutil
import socket
import subprocess
import sys
import time

from acl_common import PASSWORDS, SLOW, Resp, check, sha
import ballot_cluster

REMOTE = "192.0.2.1"
SKIP = 77


def connect_from(source, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5 * SLOW)
    s.bind((source, 0))
    s.connect((REMOTE if source == REMOTE else "127.0.0.1", port))
    return s


def roundtrip(sock, request):
    sock.sendall(request)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def closed(sock):
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionError, OSError):
        return True


def start(build, tmp, name, *extra):
    port = ballot_cluster.free_ports(1)[0]
    log = open(os.path.join(tmp, name + ".log"), "wb")
    p = subprocess.Popen([os.path.join(build, "ballotd"), "--id", "1", "--data-dir",
                          os.path.join(tmp, name), "--client", "0.0.0.0:%d" % port] + list(extra),
                         stdout=log, stderr=log)
    deadline = time.time() + 10 * SLOW
    while time.time() < deadline:
        check(p.poll() is None, "ballotd %s exited" % name)
        try:
            c = Resp(port, timeout=1.0)
            c.close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise ballot_cluster.TestFailure("ballotd %s did not come up" % name)


def stop(p):
    p.terminate()
    p.wait(timeout=20 * SLOW)


def inside(build):
    import tempfile
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", REMOTE + "/32", "dev", "lo"]):
        subprocess.run(cmd, check=True)
    tmp = tempfile.mkdtemp(prefix="ballot-protected-")
    ok = False
    try:
        # 1. Protected mode (the default), no users file.
        p, port = start(build, tmp, "protected")
        s = connect_from(REMOTE, port)
        got = roundtrip(s, b"*1\r\n$4\r\nPING\r\n")
        check(got.startswith(b"-DENIED ballotd is running in protected mode"),
              "remote client: %r" % got[:120])
        check(b"--protected-mode no" in got and b"--users-file" in got,
              "the message says what to do: %r" % got)
        check(closed(s), "the remote client is disconnected")
        s.close()
        s = connect_from("127.0.0.1", port)
        check(roundtrip(s, b"*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n", "loopback client served")
        s.close()
        stop(p)

        # 2. --protected-mode no: served, with a warning in the log.
        p, port = start(build, tmp, "open", "--protected-mode", "no")
        s = connect_from(REMOTE, port)
        check(roundtrip(s, b"*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n", "remote with mode off")
        s.close()
        stop(p)
        with open(os.path.join(tmp, "open.log"), "rb") as f:
            check(b"protected mode is off" in f.read(), "warning logged for --protected-mode no")

        # 3. A users file: remote clients are served but must AUTH.
        users = os.path.join(tmp, "users.acl")
        with open(users, "w") as f:
            f.write("user default off\nuser alice on #%s ~* +@all\n" % sha(PASSWORDS["alice"]))
        p, port = start(build, tmp, "users", "--users-file", users)
        s = connect_from(REMOTE, port)
        check(roundtrip(s, b"*1\r\n$4\r\nPING\r\n") == b"-NOAUTH Authentication required.\r\n",
              "remote with users file: NOAUTH")
        auth = Resp.encode("AUTH", "alice", PASSWORDS["alice"])
        check(roundtrip(s, auth) == b"+OK\r\n", "remote AUTH")
        check(roundtrip(s, b"*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n", "remote after AUTH")
        s.close()
        stop(p)

        # 4. A users file whose default user needs no password is protected like none.
        with open(users, "w") as f:
            f.write("user default on nopass ~* +@read\n")
        p, port = start(build, tmp, "nopass", "--users-file", users)
        s = connect_from(REMOTE, port)
        check(roundtrip(s, b"*1\r\n$4\r\nPING\r\n").startswith(b"-DENIED"),
              "remote with a nopass default user")
        s.close()
        stop(p)
        ok = True
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs kept in %s" % tmp)
    return 0


def main():
    argv = sys.argv[1:]
    check(len(argv) >= 2 and argv[0] == "--build", "usage: %s --build DIR" % sys.argv[0])
    build = argv[1]
    if len(argv) >= 3 and argv[2] == "--inside":
        try:
            return inside(build)
        except (ballot_cluster.TestFailure, OSError, subprocess.SubprocessError) as e:
            print("FAIL: security_auth_protected: %r" % (e,))
            return 1
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        print("SKIP: needs root, unshare and ip to make a network namespace")
        return SKIP
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        print("SKIP: cannot create a network namespace: %s" % probe.stderr.decode().strip())
        return SKIP
    started = time.time()
    rc = subprocess.run(["unshare", "-n", sys.executable, "-B", os.path.abspath(__file__),
                         "--build", build, "--inside"], timeout=100).returncode
    print("security_auth_protected: %s in %.1fs" % ("ok" if rc == 0 else "FAILED",
                                                   time.time() - started))
    return rc


if __name__ == "__main__":
    sys.exit(main())
