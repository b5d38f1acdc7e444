"""Forged peer messages against real ballotd processes (docs/security.md "Bounds on input
and memory"): a round of 2^64-1, a Learn contradicting a chosen value, a Learn past the
leader's proposals and forged Forwards are refused with a log line naming the sender; no
node aborts, the cluster keeps agreeing, and a restarted node comes back (nothing poisoned
reached its disk). Loopback only; a few seconds."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

import peerwire as pw  # noqa: E402
from ballot_cluster import SLOW, check, info, main  # noqa: E402


def send_and_wait_close(cluster, node, data, timeout=3.0):
    """Sends data on a fresh peer connection; True when the node closes it within timeout."""
    s = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=timeout * SLOW)
    try:
        s.sendall(data)
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.close()


def all_alive(cluster):
    for i, p in cluster.procs.items():
        check(p.poll() is None, "node %d is alive (exit %s):\n%s" % (i, p.returncode,
                                                                     cluster.log_text(i)[-3000:]))


def agree(cluster, leader, tag):
    check(cluster.write_retry(leader, "SET", "k-" + tag, tag) == "OK", "a write after " + tag)
    cluster.wait_applied(list(cluster.procs))
    for i in cluster.procs:
        c = cluster.client(i)
        got = c.cmd("GET", "k-" + tag)
        c.close()
        check(got == tag.encode(), "n%d reads k-%s = %r" % (i, tag, got))


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = leader % cluster.n + 1
    other = follower % cluster.n + 1
    if other == leader:
        other = other % cluster.n + 1
    agree(cluster, leader, "start")
    # The forger speaks as `other`, which must be down: a HELLO for a node with a live link
    # is refused before any message is read (docs/security.md "Links, HELLOs and bounds").
    hello_to = {n: pw.real_hello(cluster, other, n) for n in (leader, follower)}
    cluster.kill(other)

    # The Accept that aborted all three nodes on main: round 2^64-1, then just past the
    # ceiling.
    for round_ in (2**64 - 1, 2**62 + 1):
        data = hello_to[follower] + pw.accept(
            other, follower, round_, 1000, 0, pw.value(pw.VALUE_NOOP))
        check(send_and_wait_close(cluster, follower, data),
              "an Accept at round %d closes the connection" % round_)
        all_alive(cluster)
    agree(cluster, leader, "huge-round")
    check("fails validation" in cluster.log_text(follower),
          "the refusal is logged:\n%s" % cluster.log_text(follower)[-2000:])

    # A Learn that contradicts a chosen slot: refused, logged at error level with the
    # sender, the link dropped, nothing applied.
    chosen = int(info(cluster.client_ports[follower])["commit_index"])
    forged = pw.value(pw.VALUE_BATCH, pw.batch((other << 60) | 77, 1, b"forged"))
    data = hello_to[follower] + pw.learn(other, follower,
                                                                    [(chosen, forged)])
    check(send_and_wait_close(cluster, follower, data), "a conflicting Learn drops the link")
    all_alive(cluster)
    log = cluster.log_text(follower)
    check("carries a value other than the chosen one" in log and "dropping the link" in log,
          "the conflict is logged loudly:\n%s" % log[-2000:])
    agree(cluster, leader, "conflict")

    # The Learn that aborted the leader: slots past its proposals.
    past = int(info(cluster.client_ports[leader])["commit_index"]) + 1
    data = hello_to[leader] + pw.learn(
        other, leader, [(past, forged), (past + 1, forged)])
    s = socket.create_connection(("127.0.0.1", cluster.peer_ports[leader]), timeout=5 * SLOW)
    s.sendall(data)
    time.sleep(0.3 * SLOW)
    s.close()
    all_alive(cluster)
    check("past this leader's proposals" in cluster.log_text(leader),
          "the leader logs the refused Learn:\n%s" % cluster.log_text(leader)[-2000:])
    agree(cluster, leader, "learn-past")

    # Forwards: a client of another node, and a sequence past the ceiling.
    victim = (follower << 60) | 5
    for sender, client_id, seq in ((other, victim, 2**40), (other, (other << 60) | 5, 2**50)):
        data = hello_to[leader] + pw.forward(
            sender, leader, client_id, seq, b"x")
        s = socket.create_connection(("127.0.0.1", cluster.peer_ports[leader]), timeout=5 * SLOW)
        s.sendall(data)
        time.sleep(0.2 * SLOW)
        s.close()
    all_alive(cluster)
    log = cluster.log_text(leader)
    check("names client" in log or "fails validation" in log,
          "forged Forwards are refused:\n%s" % log[-2000:])
    c = cluster.client(follower)
    for i in range(5):
        check(c.cmd("SET", "victim", str(i)) == "OK", "the follower's clients keep writing")
    c.close()
    agree(cluster, leader, "forward")

    # The real `other` comes back; nothing poisoned reached a disk: a restarted follower
    # comes back and agrees.
    cluster.start(other)
    agree(cluster, leader, "other-back")
    cluster.kill(follower, 15)
    cluster.start(follower)
    agree(cluster, cluster.leader(), "restart")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_forged", peer_auth="insecure")
