"""Malformed RESP and malformed peer frames are refused (an error, a closed connection, a
log line) and the node keeps serving."""

import socket
import struct

from ballot_cluster import SLOW, Resp, RespError, check, main
from peerwire import (FOUNDER, FRAME_HELLO, FRAME_MSG, WIRE_MAGIC, WIRE_VERSION, frame, hello,
                      real_hello, timing_of)


def still_serving(cluster, node, tag):
    c = cluster.client(node)
    check(c.cmd("PING") == "PONG", "n%d answers PING after %s" % (node, tag))
    check(c.cmd("SET", "after-" + tag, "ok") == "OK", "n%d takes writes after %s" % (node, tag))
    c.close()


def resp_garbage(cluster, node):
    cases = {
        "bad-bulk-length": b"*2\r\n$3\r\nGET\r\n$abc\r\n",
        "huge-bulk": b"*2\r\n$3\r\nGET\r\n$999999999999\r\n",
        "negative-count": b"*-5x\r\n",
        "bad-multibulk-type": b"*1\r\n:12\r\n",
    }
    for tag, payload in cases.items():
        c = cluster.client(node)
        check(c.cmd("PING") == "PONG", "PING before %s" % tag)
        c.send_raw(payload)
        reply = c.read()
        check(isinstance(reply, RespError) and "Protocol error" in str(reply),
              "%s refused with a protocol error: %r" % (tag, reply))
        check(c.closed_by_server(), "%s closes the connection" % tag)
        c.close()
        still_serving(cluster, node, "resp-" + tag)
    # A request cut short by a vanishing client is no problem either.
    c = cluster.client(node)
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
    c.close()
    still_serving(cluster, node, "resp-truncated")


def peer_send(cluster, node, data, wait_close=True):
    s = socket.create_connection(("127.0.0.1", cluster.peer_ports[node]), timeout=5 * SLOW)
    s.sendall(data)
    closed = False
    try:
        while True:
            if not s.recv(65536):
                closed = True
                break
    except (ConnectionError, OSError):
        closed = True
    except socket.timeout:
        closed = False
    s.close()
    if wait_close:
        return closed
    return True


def peer_garbage(cluster, node):
    other = (node % cluster.n) + 1
    good_hello = real_hello(cluster, other, node)
    cases = {
        "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4,
        "bad-magic": frame(FRAME_HELLO, b"\0" * 20, magic=0xDEADBEEF),
        "bad-version": frame(FRAME_HELLO, b"\0" * 20, version=99),
        "bad-checksum": real_hello(cluster, other, node, bad_crc=True),
        "oversized": struct.pack("<IBBHI", WIRE_MAGIC, WIRE_VERSION, FRAME_MSG, 0, 0xFFFFFFF0)
        + b"\0" * 4,
        "wrong-cluster": hello(cluster.cluster_id + 1, other, node),
        "wrong-node-id": hello(cluster.cluster_id, 6, node),
        "msg-before-hello": frame(FRAME_MSG, b"\x01" * 40),
        "bad-msg-after-hello": good_hello + frame(FRAME_MSG, b"\xff" * 40),
        "second-hello": good_hello + good_hello,
        # Settings a lease's safety rests on must match; a member founded again on an
        # empty disk (a new incarnation, --bootstrap) has forgotten its promises.
        "timing-mismatch": hello(cluster.cluster_id, other, node,
                                 timing=timing_of(cluster, other)[:3] + (999, 10)),
        "amnesiac-founder": hello(cluster.cluster_id, other, node, incarnation=0x5EED,
                                  flags=FOUNDER, timing=timing_of(cluster, other)),
    }
    for tag, payload in cases.items():
        check(peer_send(cluster, node, payload), "peer frame %s closes the connection" % tag)
        still_serving(cluster, node, "peer-" + tag)
    log = cluster.log_text(node)
    check(log.count("refused") >= len(cases), "each refusal is logged:\n%s" % log[-2000:])
    check("--lease-ms 999" in log, "the timing mismatch names the setting:\n%s" % log[-2000:])
    check("presents a founder's incarnation" in log, "the re-founded member is named:\n%s" % log[-2000:])


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = (leader % cluster.n) + 1
    for node in (leader, follower):
        resp_garbage(cluster, node)
        peer_garbage(cluster, node)
    check(cluster.leader() in range(1, cluster.n + 1), "the cluster still has a leader")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    # Forged frames need a plain-TCP peer port: this tests the frame decoder.
    # tests/security/test_peer_auth.py shows the same frames never reach it under TLS.
    main(run, "server_malformed", peer_auth="insecure")
