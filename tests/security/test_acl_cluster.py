"""Users and ACLs on a 3-node cluster: a user's writes sent to a follower are checked there
and forwarded to the leader over the peer links (which carry no users); refused commands
never leave the node the client talks to; the ballot CLI authenticates with --user/--pass
and $BALLOT_USER/$BALLOT_PASSWORD; `ballot status` works for a user with +info."""

import os
import subprocess
import time

from acl_common import (PASSWORDS, SLOW, check, expect_error, info_as_admin, leader_as_admin,
                        login, sha, write_users)
import ballot_cluster

NOKEY = "NOPERM No permissions to access a key"


def test(cluster):
    path = write_users(cluster)
    cluster.extra_args = ["--users-file", path]
    cluster.start_all()
    leader = leader_as_admin(cluster)
    follower = next(i for i in cluster.procs if i != leader)
    other = next(i for i in cluster.procs if i not in (leader, follower))

    # alice writes through a follower: checked there, forwarded to the leader.
    c = login(cluster.client_ports[follower], "alice")
    deadline = time.time() + 10 * SLOW
    r = None
    while time.time() < deadline:
        r = c.cmd("SET", "app:fwd", "1")
        if r == "OK":
            break
        time.sleep(0.05)
    check(r == "OK", "alice SET through follower n%d: %r" % (follower, r))
    before = int(info_as_admin(cluster.client_ports[leader])["commit_index"])
    expect_error(c.cmd("SET", "secret:1", "x"), NOKEY, "alice SET outside her keys (follower)")
    expect_error(c.cmd("BALLOT.TRANSFER", str(other)),
                 "NOPERM User alice has no permissions to run the 'ballot.transfer' command",
                 "alice BALLOT.TRANSFER on a follower")
    c.close()
    after = int(info_as_admin(cluster.client_ports[leader])["commit_index"])
    check(after == before, "a refused write reached the log (%d -> %d)" % (before, after))

    r = login(cluster.client_ports[other], "reader")
    check(r.cmd("GET", "app:fwd") == b"1", "reader GET on the third node")
    expect_error(r.cmd("SET", "app:fwd", "2"),
                 "NOPERM User reader has no permissions to run the 'set' command",
                 "reader SET on the third node")
    r.close()

    # The ballot CLI.
    nodes = ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in sorted(cluster.procs))

    def cli(*args, env=None):
        e = dict(os.environ)
        e.pop("BALLOT_USER", None)
        e.pop("BALLOT_PASSWORD", None)
        e.update(env or {})
        p = subprocess.run([cluster.ballot, "--cluster", nodes] + list(args),
                           capture_output=True, text=True, timeout=30 * SLOW, env=e)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    rc, out, err = cli("--user", "alice", "--pass", PASSWORDS["alice"], "set", "app:cli", "v")
    check(rc == 0 and out == "OK", "ballot set with --user/--pass: %r %r" % (out, err))
    rc, out, err = cli("get", "app:cli", env={"BALLOT_USER": "alice",
                                              "BALLOT_PASSWORD": PASSWORDS["alice"]})
    check(rc == 0 and out == "v", "ballot get with $BALLOT_USER: %r %r" % (out, err))
    rc, out, err = cli("--user", "alice", "--pass", "wrong", "get", "app:cli")
    check(rc == 4 and "WRONGPASS" in err, "ballot with a wrong password: %r %r" % (out, err))
    rc, out, err = cli("get", "app:cli")
    check(rc == 4 and "NOAUTH" in err, "ballot without credentials: %r %r" % (out, err))
    rc, out, err = cli("--user", "mon", "--pass", "x", "status")
    check(rc == 0 and "leader" in out, "ballot status as mon (+info): %r %r" % (out, err))
    rc, out, err = cli("--user", "alice", "--pass", PASSWORDS["alice"], "status")
    check(rc == 4 and "NOPERM" in out, "ballot status as alice: %r %r" % (out, err))
    rc, out, err = cli("--user", "admin", "--pass", PASSWORDS["admin"], "transfer-leader",
                       str(follower))
    check(rc == 0, "ballot transfer-leader as admin: %r %r" % (out, err))
    check(leader_as_admin(cluster) == follower, "n%d leads after the transfer" % follower)
    # Backups need @admin (docs/operations.md "Backup and restore").
    snap = os.path.join(cluster.dir, "acl.snap")
    rc, out, err = cli("--user", "alice", "--pass", PASSWORDS["alice"], "snapshot", "save", snap)
    check(rc == 1 and "NOPERM" in err and not os.path.exists(snap),
          "ballot snapshot save as alice: %r %r" % (out, err))
    rc, out, err = cli("--user", "admin", "--pass", PASSWORDS["admin"], "snapshot", "save", snap)
    check(rc == 0 and out.startswith("saved ") and os.path.exists(snap),
          "ballot snapshot save as admin: %r %r" % (out, err))
    p = subprocess.run([cluster.ballot, "passwd"], input="alice-pw\n", capture_output=True,
                       text=True, timeout=10)
    check(p.stdout.strip() == "#" + sha("alice-pw"), "ballot passwd: %r" % p.stdout)


if __name__ == "__main__":
    ballot_cluster.main(test, "security_acl_cluster", nodes=3)
