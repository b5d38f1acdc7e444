"""HELLO rules on a --peer-insecure cluster (where anyone may send one): a duplicate HELLO for
a node with a live link never displaces it, and a node id whose link is replaced more than
10 times a second is throttled. With authenticated peers the same rules hold behind TLS
(test_peer_x509.py). The cluster keeps agreeing."""

import socket
import time

from sec_util import SLOW, check, closed_within, log_count, main, real_hello, still_agreeing, wait_log


def send_hello(cluster, node, claim, wait=True):
    message = real_hello(cluster, claim, node)
    s = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=5 * SLOW)
    s.sendall(message)
    closed = closed_within(s, 2 * SLOW) if wait else None
    s.close()
    return closed


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    check("--peer-insecure: peer links are plain TCP" in cluster.log_text(1),
          "running without peer authentication logs a warning at start")
    victim = leader % 3 + 1
    # A HELLO claiming a node with a live link: refused, the link stays.
    down = log_count(cluster, leader, "peer n%d down" % victim)
    for _ in range(5):
        check(send_hello(cluster, leader, victim), "duplicate HELLO closed")
    check(wait_log(cluster, leader, "already has a live link", 5), "duplicates logged")
    check(log_count(cluster, leader, "peer n%d down" % victim) == down, "live link not displaced")
    still_agreeing(cluster, [1, 2, 3], "dup")

    # With node 3 down, HELLOs claiming it replace each other: past 10 a second, throttled.
    third = [i for i in (1, 2, 3) if i not in (leader, victim)][0]
    forged = real_hello(cluster, third, leader)
    cluster.kill(third)
    time.sleep(0.2)
    socks = []
    started = time.time()
    for _ in range(25):
        s = socket.create_connection(("127.0.0.1", cluster.peer_ports[leader]), timeout=5 * SLOW)
        s.sendall(forged)
        socks.append(s)
        time.sleep(0.005)
        s.close()  # the next one then replaces a closed link
    if time.time() - started < 0.9:
        check(wait_log(cluster, leader, "replaced over 10 times", 1), "flapping throttled")
    still_agreeing(cluster, [leader, victim], "flap")
    cluster.start(third)
    still_agreeing(cluster, [1, 2, 3], "healed")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_hello", peer_auth="insecure")
