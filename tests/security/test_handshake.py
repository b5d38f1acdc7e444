"""Handshake bounds: a connection that stays silent is closed at the handshake deadline (peer
and TLS client ports), connections past --handshake-max are closed on accept, and the
cluster keeps agreeing while they come and go."""

import socket
import time

from sec_util import SLOW, check, closed_within, info, main, make_ca, make_cert, still_agreeing

DEADLINE_MS = 1000
PENDING_MAX = 4


def silent(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW)


def deadline_closes(cluster, port, what):
    s = silent(port)
    started = time.time()
    check(closed_within(s, 5 * SLOW), "%s: a silent connection is closed" % what)
    took = time.time() - started
    s.close()
    check(took >= 0.8 * DEADLINE_MS / 1000.0, "%s: not before the deadline (%.2fs)" % (what, took))
    check(took <= 1.0 + 2.0 * SLOW, "%s: soon after the deadline (%.2fs)" % (what, took))


def cap_refuses(cluster, port, what):
    held = [silent(port) for _ in range(PENDING_MAX)]
    time.sleep(0.2)
    extra = silent(port)
    started = time.time()
    check(closed_within(extra, 0.5 * SLOW), "%s: the connection past the cap is closed" % what)
    check(time.time() - started < 0.5 * SLOW, "%s: at once" % what)
    extra.close()
    for s in held:
        s.settimeout(0.05)
        try:
            check(s.recv(1) != b"", "%s: held connections are still open" % what)
        except socket.timeout:
            pass
    for s in held:
        s.close()


def run(cluster):
    cluster.ca = make_ca(cluster.dir)
    server = make_cert(cluster.dir, cluster.ca, "server", "localhost",
                       "DNS:localhost,IP:127.0.0.1", usage="serverAuth")
    import ssl
    cluster.client_ssl = ssl.create_default_context(cafile=cluster.ca[1])
    cluster.extra_args = ["--handshake-timeout-ms", str(DEADLINE_MS),
                          "--handshake-max", str(PENDING_MAX),
                          "--client-tls-cert", server[0], "--client-tls-key", server[1]]
    cluster.start_all()
    leader = cluster.leader()
    follower = leader % 3 + 1
    for node in (leader, follower):
        deadline_closes(cluster, cluster.peer_ports[node], "peer port of n%d" % node)
        deadline_closes(cluster, cluster.client_ports[node], "client TLS port of n%d" % node)
        cap_refuses(cluster, cluster.peer_ports[node], "peer port of n%d" % node)
        cap_refuses(cluster, cluster.client_ports[node], "client TLS port of n%d" % node)
        still_agreeing(cluster, [1, 2, 3], "bounds-%d" % node)
    f = info(cluster.client_ports[leader], cluster.client_ssl)
    check(f["peers_up"] == "2", "peers still up: %r" % f["peers_up"])
    check(int(f["handshakes_expired"]) >= 2, "deadlines counted: %r" % f["handshakes_expired"])
    check(int(f["handshakes_refused_full"]) >= 2, "caps counted: %r" % f["handshakes_refused_full"])
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_handshake")
