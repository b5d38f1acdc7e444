"""Bootstrap and node identity (docs/operations.md "Bootstrap and node identity"):

- two of three data directories emptied and only those two nodes started: they rejoin
  instead of voting with their promises forgotten, so no acknowledged key reads as nil,
  and they keep waiting when the third node is back (a majority's state is gone);
- one emptied data directory: the node rejoins without any flag and catches up;
- a member bootstrapped again on an empty disk is refused by the peers that knew it,
  loudly, while the others keep serving; started without --bootstrap it rejoins;
- a node whose timing settings differ from the others' is refused, naming the setting;
- a data directory used for the wrong node id is refused at start."""

import os
import shutil
import signal
import subprocess
import time

from ballot_cluster import SLOW, Cluster, RespError, check, info, main

KEYS = 100
REFUSED = "presents a founder's incarnation"


def empty_dir(cluster, node):
    shutil.rmtree(cluster.data_dir(node))
    os.makedirs(cluster.data_dir(node))


def wait_for(what, fn, timeout=15.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def read_local(cluster, node, key):
    """GET with a short socket timeout: a node that cannot serve must not answer nil."""
    c = cluster.client(node)
    c.sock.settimeout(2.0)
    try:
        return c.cmd("GET", key)
    except OSError:
        return None
    finally:
        c.close()


def no_forgotten_nil(cluster, nodes, what):
    for node in nodes:
        for k in (0, KEYS // 2, KEYS - 1):
            got = read_local(cluster, node, "key%d" % k)
            check(got is None or isinstance(got, RespError),
                  "%s: n%d answers GET key%d with %r, not a forgotten nil" % (what, node, k, got))


def all_keys_everywhere(cluster):
    cluster.wait_applied(range(1, cluster.n + 1))
    for node in range(1, cluster.n + 1):
        c = cluster.client(node)
        check(c.cmd("READONLY") == "OK", "READONLY")
        for k in range(KEYS):
            got = c.cmd("GET", "key%d" % k)
            check(got == b"value%d" % k, "n%d key%d = %r" % (node, k, got))
        c.close()


def amnesia_is_never_silent(cluster):
    """The issue's scenario: 2 of 3 disks emptied. A majority's acceptor state is gone, so
    nothing may be served from what is left: the emptied nodes rejoin and wait, even once
    the third node is back (it alone is not a majority to read from)."""
    leader = cluster.leader()
    c = cluster.client(leader)
    for k in range(KEYS):
        check(c.cmd("SET", "key%d" % k, "value%d" % k) == "OK", "SET key%d" % k)
    c.close()
    cluster.wait_applied(range(1, cluster.n + 1))
    cluster.stop_all()
    saved = {}
    for node in (2, 3):
        saved[node] = cluster.data_dir(node) + ".saved"
        shutil.copytree(cluster.data_dir(node), saved[node])
        empty_dir(cluster, node)
        cluster.start(node)
    time.sleep(2.0 * SLOW)
    for node in (2, 3):
        f = info(cluster.client_ports[node])
        check(f["rejoining"] == "1", "n%d rejoins: %r" % (node, f.get("rejoining")))
        check(f["role"] != "leader", "n%d never leads from an empty disk" % node)
        check(f["incarnation_origin"] == "rejoin", "n%d has a rejoin incarnation" % node)
        check("--bootstrap is not given" in cluster.log_text(node), "n%d says why" % node)
    no_forgotten_nil(cluster, (2, 3), "two emptied nodes")
    cluster.start(1)
    time.sleep(2.0 * SLOW)
    for node in (2, 3):
        check(info(cluster.client_ports[node])["rejoining"] == "1", "n%d still waits" % node)
    no_forgotten_nil(cluster, (1, 2, 3), "one node with its disk")
    # Putting the old disks back is refused too: the peers heard the rejoin's incarnation
    # since, and an older copy of a directory may have forgotten promises.
    cluster.stop_all()
    for node in (2, 3):
        shutil.rmtree(cluster.data_dir(node))
        shutil.move(saved[node], cluster.data_dir(node))
    cluster.start_all()
    wait_for("n1 to refuse the replaced directories",
             lambda: REFUSED in cluster.log_text(1))
    no_forgotten_nil(cluster, (1,), "replaced directories")
    cluster.stop_all()


def emptied_node_rejoins(cluster):
    """One emptied disk: the node rejoins without any flag and catches up."""
    cluster.kill(3, signal.SIGKILL)
    empty_dir(cluster, 3)
    cluster.write_retry(1, "SET", "while", "away")
    cluster.start(3)
    wait_for("n3 to finish its rejoin",
             lambda: info(cluster.client_ports[3]).get("rejoining") == "0", timeout=20.0)
    all_keys_everywhere(cluster)


def refounded_member_is_refused(cluster):
    victim = 3
    cluster.kill(victim, signal.SIGKILL)
    empty_dir(cluster, victim)
    cluster.start(victim, bootstrap=True)
    wait_for("the peers to refuse the re-founded n%d" % victim,
             lambda: REFUSED in cluster.log_text(1) and REFUSED in cluster.log_text(2))
    refused = int(info(cluster.client_ports[1])["peers_refused_amnesia"])
    check(refused >= 1, "INFO counts the refusal: %d" % refused)
    check(info(cluster.client_ports[victim])["role"] != "leader", "the re-founded node never leads")
    cluster.write_retry(1, "SET", "while", "refused")
    got = read_local(cluster, victim, "key1")
    check(got is None or isinstance(got, RespError), "the re-founded n3 serves nothing: %r" % got)
    # The way back: empty it again and start it without --bootstrap.
    cluster.kill(victim, signal.SIGKILL)
    empty_dir(cluster, victim)
    cluster.start(victim, bootstrap=False)
    wait_for("n%d to rejoin" % victim,
             lambda: info(cluster.client_ports[victim]).get("rejoining") == "0", timeout=20.0)
    cluster.wait_applied(range(1, cluster.n + 1))
    c = cluster.client(victim)
    check(c.cmd("READONLY") == "OK", "READONLY")
    check(c.cmd("GET", "while") == b"refused", "the rejoined n3 has the write made meanwhile")
    c.close()


def timing_mismatch_is_refused(cluster):
    odd = 2
    cluster.kill(odd, signal.SIGTERM)
    saved = cluster.extra_args
    cluster.extra_args = saved + ["--lease-ms", "2000", "--election-timeout-min-ms", "2500",
                                  "--election-timeout-max-ms", "3000"]
    cluster.start(odd)
    cluster.extra_args = saved
    wait_for("the peers to refuse n%d's timing" % odd,
             lambda: "--lease-ms 2000" in cluster.log_text(1))
    check("timing settings must be the same" in cluster.log_text(1), "the refusal says why")
    check(info(cluster.client_ports[odd])["peers_up"] == "0", "n%d has no peer" % odd)
    cluster.write_retry(1, "SET", "timing", "checked")
    cluster.kill(odd, signal.SIGTERM)
    cluster.start(odd)
    wait_for("n%d to be back" % odd, lambda: info(cluster.client_ports[odd])["peers_up"] == "2")


def wrong_data_dir_is_refused(cluster):
    args = cluster.args(1)
    at = args.index("--data-dir")
    args[at + 1] = cluster.data_dir(2)
    out = subprocess.run(args, capture_output=True, timeout=20 * SLOW)
    check(out.returncode != 0 and b"belongs to node 2" in out.stderr,
          "a data dir of n2 used for n1 is refused: %d %r" % (out.returncode, out.stderr))
    # A damaged IDENTITY stops the node and names the remedy.
    path = os.path.join(cluster.data_dir(3), "IDENTITY")
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0x20]))
    out = subprocess.run(cluster.args(3), capture_output=True, timeout=20 * SLOW)
    check(out.returncode != 0 and b"IDENTITY is damaged" in out.stderr
          and b"--rejoin" in out.stderr,
          "a damaged IDENTITY is refused: %d %r" % (out.returncode, out.stderr[-400:]))


def run(cluster):
    cluster.start_all()
    check(all(info(cluster.client_ports[i])["incarnation_origin"] == "founder"
              for i in range(1, cluster.n + 1)), "the founding nodes are founders")
    amnesia_is_never_silent(cluster)
    # That cluster has lost a majority's disks for good; the rest runs on a new one.
    fresh = Cluster(os.path.dirname(cluster.ballotd), name="identity")
    ok = False
    try:
        fresh.start_all()
        fresh.leader()
        c = fresh.client(fresh.leader())
        for k in range(KEYS):
            check(c.cmd("SET", "key%d" % k, "value%d" % k) == "OK", "SET key%d" % k)
        c.close()
        emptied_node_rejoins(fresh)
        refounded_member_is_refused(fresh)
        timing_mismatch_is_refused(fresh)
        codes = fresh.stop_all()
        check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)
        wrong_data_dir_is_refused(fresh)
        ok = True
    finally:
        fresh.cleanup(ok)


if __name__ == "__main__":
    main(run, "server_identity")
