"""Helpers of the security tests: the cluster harness of tests/server, test certificates made
with the openssl command, and raw peer frames (the format of src/wire)."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

from ballot_cluster import SLOW, Cluster, check, info, main  # noqa: E402,F401

WIRE_MAGIC = 0x544C4142
WIRE_VERSION = 2
FOUNDER = 1
FRAME_HELLO = 1
FRAME_MSG = 2


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def frame(frame_type, payload):
    head = struct.pack("<IBBHI", WIRE_MAGIC, WIRE_VERSION, frame_type, 0, len(payload))
    return head + struct.pack("<I", crc32c(head + payload)) + payload


def hello(cluster_id, node_id, peer_id, incarnation=0x1234, flags=0,
          timing=(20, 150, 300, 100, 10)):
    payload = struct.pack("<IQIIQI5I", WIRE_VERSION, cluster_id, node_id, peer_id, incarnation,
                          flags, *timing)
    return frame(FRAME_HELLO, payload)


def real_hello(cluster, node_id, peer_id):
    """The HELLO node_id itself sends (its incarnation and timing settings, from INFO), so
    that only the rule under test can refuse a forged copy."""
    f = info(cluster.client_ports[node_id], cluster.client_ssl)
    timing = tuple(int(f[k]) for k in ("heartbeat_ms", "election_timeout_min_ms",
                                       "election_timeout_max_ms", "lease_ms", "drift_ms"))
    flags = FOUNDER if f["incarnation_origin"] == "founder" else 0
    return hello(cluster.cluster_id, node_id, peer_id, incarnation=int(f["incarnation"], 16),
                 flags=flags, timing=timing)


def closed_within(sock, seconds):
    """True when the other side closes the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionError, ssl.SSLError, OSError) as e:
        if isinstance(e, socket.timeout):
            return False
        return True


def openssl(*args):
    out = subprocess.run(["openssl"] + list(args), capture_output=True)
    check(out.returncode == 0, "openssl %s: %s" % (" ".join(args), out.stderr.decode()))


def make_ca(directory, name="ca"):
    key = os.path.join(directory, name + ".key")
    pem = os.path.join(directory, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=ballot-test-" + name)
    return key, pem


def make_cert(directory, ca, name, common_name, san, usage="serverAuth,clientAuth"):
    """A certificate signed by ca=(key, pem); returns (cert, key) paths."""
    ca_key, ca_pem = ca
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    pem = os.path.join(directory, name + ".pem")
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("[v3]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n" % usage)
        if san:
            f.write("subjectAltName=%s\n" % san)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + common_name)
    openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
            "-out", pem, "-days", "2", "-extfile", ext, "-extensions", "v3")
    os.chmod(key, 0o600)
    return pem, key


def still_agreeing(cluster, nodes, tag):
    """A write through each node, then every node in `nodes` applies the same index."""
    for i in nodes:
        cluster.write_retry(i, "SET", "%s-%d" % (tag, i), "v")
    cluster.wait_applied(nodes)


def log_count(cluster, i, needle):
    return cluster.log_text(i).count(needle)


def wait_log(cluster, i, needle, at_least=1, timeout=5.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if log_count(cluster, i, needle) >= at_least:
            return True
        time.sleep(0.05)
    return False
