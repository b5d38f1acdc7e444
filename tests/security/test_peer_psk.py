"""Peer links with pairwise keys (--peer-key-file): a connection without the cluster's keys
is refused before any frame is read, a wrong key file cannot join, node 2's key file cannot
speak as node 3, and the cluster keeps agreeing and serving through all of it."""

import os
import socket
import ssl
import subprocess
import time

from sec_util import (SLOW, check, closed_within, frame, hello, info, log_count, main,
                      still_agreeing, wait_log, FRAME_MSG)


def forged_frames_never_processed(cluster, node):
    """A HELLO and a protocol message in plain TCP to a TLS peer port: refused as a failed
    handshake, never parsed as frames (peer_frames_refused stays 0)."""
    before = log_count(cluster, node, "refused before any frame")
    other = node % cluster.n + 1
    payload = hello(cluster.cluster_id, other, node) + frame(FRAME_MSG, b"\x01" * 40)
    s = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=5 * SLOW)
    s.sendall(payload)
    check(closed_within(s, 5 * SLOW), "forged frames: connection closed")
    s.close()
    check(wait_log(cluster, node, "refused before any frame", before + 1),
          "the refusal is logged as a failed handshake")
    f = info(cluster.client_ports[node])
    check(f["peer_frames_refused"] == "0", "no frame was parsed: %r" % f["peer_frames_refused"])


def tls_without_key_refused(cluster, node):
    """A TLS 1.3 client with no key and no certificate gets no handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=5 * SLOW)
    try:
        s = ctx.wrap_socket(raw)
        s.sendall(hello(cluster.cluster_id, 2, node))
        check(closed_within(s, 5 * SLOW), "a TLS client without the key is closed")
        check(False, "a TLS client without the key finished a handshake")
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    finally:
        raw.close()


def read_keys(path):
    pairs = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "pair":
                pairs[int(parts[1])] = parts[2]
    return pairs


def write_keys(path, node, nodes, pairs):
    with open(path, "w") as f:
        f.write("ballot-peer-keys 1\nnode %d\nnodes %d\n" % (node, nodes))
        for j, key in sorted(pairs.items()):
            f.write("pair %d %s\n" % (j, key))
    os.chmod(path, 0o600)


def impostor_run(cluster, key_file, what, seconds=2.0):
    """Runs node 3 with another key file for a while: nodes 1 and 2 must never see it up.
    Returns node 3's log."""
    n3_up = {i: log_count(cluster, i, "peer n3 up") for i in (1, 2)}
    refused = log_count(cluster, 1, "refused before any frame")
    cluster.peer_auth = "none"
    cluster.extra_args = ["--peer-key-file", key_file]
    cluster.start(3)
    time.sleep(seconds * SLOW)
    still_agreeing(cluster, [1, 2], what)
    check(log_count(cluster, 1, "peer n3 up") == n3_up[1], "%s: node 1 never sees n3 up" % what)
    check(log_count(cluster, 1, "refused before any frame") > refused,
          "%s: node 1 logs the refused handshakes" % what)
    f = info(cluster.client_ports[3])
    log = cluster.log_text(3)
    cluster.kill(3)
    cluster.peer_auth = "psk"
    cluster.extra_args = []
    return f, n3_up, log


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    still_agreeing(cluster, [1, 2, 3], "start")
    for node in (leader, leader % 3 + 1):
        forged_frames_never_processed(cluster, node)
        tls_without_key_refused(cluster, node)
    still_agreeing(cluster, [1, 2, 3], "after-forged")

    # A key file from another cluster's keygen: node 3 cannot join.
    other = os.path.join(cluster.dir, "other-keys")
    out = subprocess.run([cluster.ballot, "keygen", "--nodes", "3", "--out", other],
                         capture_output=True)
    check(out.returncode == 0, "keygen: %r" % out.stderr)
    cluster.kill(3)
    f, _, _ = impostor_run(cluster, os.path.join(other, "node3.key"), "wrong-key")
    check(f["peers_up"] == "0", "wrong key: node 3 has no peer up: %r" % f["peers_up"])

    # Node 2's keys, relabelled as node 3's: node 1 refuses it (K(1,2) is not K(1,3)).
    mine = read_keys(cluster.key_file(2))
    forged = os.path.join(cluster.dir, "forged-node3.key")
    write_keys(forged, 3, 3, {1: mine[1], 2: mine[3]})
    impostor_run(cluster, forged, "node2-as-node3")

    # Node 2's own key file given to node 3: refused at start, naming the file.
    out = subprocess.run(cluster.args(3)[:-2] + ["--peer-key-file", cluster.key_file(2)],
                         capture_output=True, timeout=10 * SLOW)
    check(out.returncode != 0 and b"node 2's key file" in out.stderr,
          "node 2's key file refused for node 3: %r" % out.stderr)

    # A key file others can read is refused.
    loose = os.path.join(cluster.dir, "loose.key")
    with open(cluster.key_file(3)) as src, open(loose, "w") as dst:
        dst.write(src.read())
    os.chmod(loose, 0o644)
    out = subprocess.run(cluster.args(3)[:-2] + ["--peer-key-file", loose], capture_output=True,
                         timeout=10 * SLOW)
    check(out.returncode != 0 and b"chmod 600" in out.stderr, "mode 0644 refused: %r" % out.stderr)

    # No peer authentication at all is a startup error naming the flags.
    out = subprocess.run(cluster.args(3)[:-2], capture_output=True, timeout=10 * SLOW)
    check(out.returncode == 2 and b"--peer-key-file" in out.stderr and
          b"--peer-insecure" in out.stderr, "no peer auth refused: %r" % out.stderr)

    # Incomplete or conflicting TLS flags are startup errors naming them.
    base = cluster.args(3)[:-2]
    for extra, needle in [
            (["--peer-cert", loose], b"needs all of --peer-cert, --peer-key and --peer-ca"),
            (["--peer-key-file", loose, "--peer-insecure"], b"choose one of"),
            (["--peer-insecure", "--client-tls-cert", loose], b"needs both"),
            (["--peer-insecure", "--client-tls-ca", loose], b"--client-tls-ca needs")]:
        out = subprocess.run(base + extra, capture_output=True, timeout=10 * SLOW)
        check(out.returncode == 2 and needle in out.stderr, "%r: %r" % (extra, out.stderr))

    # The real node 3 comes back and catches up.
    cluster.start(3)
    still_agreeing(cluster, [1, 2, 3], "healed")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_peer_psk")
