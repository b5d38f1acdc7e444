"""Peer links with X.509 certificates (--peer-cert/--peer-key/--peer-ca): a cluster whose
certificates name ballot-node-N works; a certificate for the wrong node, or from another
CA, is refused; a HELLO must claim the node its certificate names; a duplicate HELLO does
not displace the live link; and the cluster keeps agreeing throughout."""

import os
import socket
import ssl
import subprocess

from sec_util import (SLOW, Cluster, check, closed_within, hello, info, log_count, main,
                      make_ca, make_cert, real_hello, still_agreeing, wait_log)


class X509Cluster(Cluster):
    def __init__(self, build_dir, **kwargs):
        Cluster.__init__(self, build_dir, peer_auth="none", **kwargs)
        self.ca = make_ca(self.dir)
        self.certs = {}
        for i in range(1, self.n + 1):
            self.certs[i] = make_cert(self.dir, self.ca, "node%d" % i, "ballot-node-%d" % i,
                                      "DNS:ballot-node-%d" % i)
        self.override = {}

    def peer_auth_args(self, i):
        cert, key = self.override.get(i, self.certs[i])
        return ["--peer-cert", cert, "--peer-key", key, "--peer-ca", self.ca[1]]


def tls_peer(cluster, node, cert, ca=None):
    """A mutually authenticated TLS connection to node's peer port, presenting cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert[0], cert[1])
    ctx.load_verify_locations((ca or cluster.ca)[1])
    raw = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=5 * SLOW)
    return ctx.wrap_socket(raw, server_hostname="ballot-node-%d" % node)


def hello_as(cluster, node, cert, claim):
    """Sends a HELLO claiming `claim` with node 2's certificate; True when node closes it."""
    message = real_hello(cluster, claim, node)
    s = tls_peer(cluster, node, cert)
    s.sendall(message)
    closed = closed_within(s, 3 * SLOW)
    s.close()
    return closed


def run(cluster):
    cluster.start_all()
    cluster.leader()
    still_agreeing(cluster, [1, 2, 3], "x509")
    # Node 2's certificate talks to node 1, claiming node 3 (neither end) or node 2.
    target = 1

    # Node 2's certificate claiming node 3: refused at the HELLO.
    refused = log_count(cluster, target, "proves node 2, its HELLO claims node 3")
    check(hello_as(cluster, target, cluster.certs[2], 3), "node 2's cert as node 3 is closed")
    check(wait_log(cluster, target, "proves node 2, its HELLO claims node 3", refused + 1),
          "the wrong claim is logged")

    # Node 2's certificate claiming node 2 again: the live link stays.
    down = log_count(cluster, target, "peer n2 down")
    dup = log_count(cluster, target, "already has a live link")
    check(hello_as(cluster, target, cluster.certs[2], 2), "the duplicate link is closed")
    check(wait_log(cluster, target, "already has a live link", dup + 1), "duplicate logged")
    check(log_count(cluster, target, "peer n2 down") == down, "the live n2 link stays up")
    check(info(cluster.client_ports[target])["peers_up"] == "2", "both peers still up")

    # A certificate from another CA naming node 2: no handshake.
    other_ca = make_ca(cluster.dir, "other-ca")
    stranger = make_cert(cluster.dir, other_ca, "stranger", "ballot-node-2", "DNS:ballot-node-2")
    try:
        s = tls_peer(cluster, target, stranger)
        s.sendall(hello(cluster.cluster_id, 2, target))
        check(closed_within(s, 3 * SLOW), "another CA's certificate is closed")
        s.close()
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    check(log_count(cluster, target, "peer n2 down") == down, "still no n2 down")
    still_agreeing(cluster, [1, 2, 3], "after-forgeries")

    # Node 3 started with node 2's certificate: refused at start, naming the problem.
    cluster.kill(3)
    cluster.override[3] = cluster.certs[2]
    out = subprocess.run(cluster.args(3), capture_output=True, timeout=10 * SLOW)
    check(out.returncode == 2 and b"does not name this node as ballot-node-3" in out.stderr,
          "node 2's certificate refused for node 3: %r" % out.stderr)
    # A certificate naming no node at all: refused at start too.
    nameless = make_cert(cluster.dir, cluster.ca, "nameless", "somebody", "DNS:example.test")
    cluster.override[3] = nameless
    out = subprocess.run(cluster.args(3), capture_output=True, timeout=10 * SLOW)
    check(out.returncode == 2 and b"names no node" in out.stderr, "nameless: %r" % out.stderr)
    del cluster.override[3]
    still_agreeing(cluster, [1, 2], "two-left")
    cluster.start(3)
    still_agreeing(cluster, [1, 2, 3], "healed")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    import ballot_cluster
    ballot_cluster.Cluster = X509Cluster  # main() builds the cluster
    main(run, "security_peer_x509")
