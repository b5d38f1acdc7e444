"""Shared parts of the security tests: a users file, clients that AUTH first, and waits that
work when every command but AUTH answers NOAUTH. Builds on tests/server/ballot_cluster.py."""

import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

import ballot_cluster  # noqa: E402
from ballot_cluster import SLOW, Resp, RespError, TestFailure, check  # noqa: E402,F401

PASSWORDS = {
    "default": "default-pw",
    "admin": "admin-pw",
    "alice": "alice-pw",
    "bob": "bob-pw",
    "reader": "reader-pw",
}


def sha(pw):
    return hashlib.sha256(pw.encode()).hexdigest()


USERS_FILE = """# ballotd users (docs/security.md)
user default on #{default} ~* +@read -@dangerous
user admin on #{admin} allkeys +@all
user alice on #{alice} ~app:* ~shared:? +@read +@write +ping +client|setname +client|getname +acl|whoami
user bob off #{bob} ~* +@all
user reader on #{reader} ~* +@read
user mon on nopass +info +ping
""".format(**{k: sha(v) for k, v in PASSWORDS.items()})


def write_users(cluster, text=USERS_FILE):
    path = os.path.join(cluster.dir, "users.acl")
    with open(path, "w") as f:
        f.write(text)
    return path


def wait_up_any(self, i, timeout=10.0):
    """Cluster.wait_up that takes NOAUTH for an answer (the node is up, it wants AUTH)."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        check(self.procs[i].poll() is None,
              "node %d exited with %s:\n%s" % (i, self.procs[i].returncode, self.log_text(i)))
        try:
            c = Resp(self.client_ports[i], timeout=1.0)
            r = c.cmd("PING")
            c.close()
            if r == "PONG" or (isinstance(r, RespError) and str(r).startswith("NOAUTH")):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TestFailure("node %d did not come up" % i)


ballot_cluster.Cluster.wait_up = wait_up_any


def login(port, user, password=None):
    c = Resp(port)
    r = c.cmd("AUTH", user, password if password is not None else PASSWORDS[user])
    check(r == "OK", "AUTH %s: %r" % (user, r))
    return c


def error_text(r):
    return str(r) if isinstance(r, RespError) else None


def expect_error(r, text, what):
    check(error_text(r) == text, "%s: expected -%s, got %r" % (what, text, r))


def info_as_admin(port):
    c = login(port, "admin")
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


def leader_as_admin(cluster, timeout=10.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        for i in cluster.procs:
            try:
                f = info_as_admin(cluster.client_ports[i])
            except (OSError, TestFailure):
                continue
            if f.get("role") == "leader" and f.get("lease_held") == "1":
                return i
        time.sleep(0.05)
    raise TestFailure("no leader within %.1fs" % (timeout * SLOW))
