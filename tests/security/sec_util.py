"""Helpers of the security tests: the cluster harness of tests/server, test certificates made
with the openssl command, and raw peer frames (the format of src/wire)."""

import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

from ballot_cluster import SLOW, Cluster, check, info, main  # noqa: E402,F401

from peerwire import (FOUNDER, FRAME_HELLO, FRAME_MSG, WIRE_MAGIC, WIRE_VERSION,  # noqa: E402,F401
                      crc32c, frame, hello, real_hello)


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
