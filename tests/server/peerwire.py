"""Raw peer frames (the layout of src/wire/encode.c): what a test that speaks the peer
protocol by hand — or an attacker who can reach the peer port — sends. Used by
tests/server/test_malformed.py and the tests of tests/security."""

import struct

from ballot_cluster import info

WIRE_MAGIC = 0x544C4142
WIRE_VERSION = 2
FRAME_HELLO = 1
FRAME_MSG = 2
MSG_ACCEPT = 3
MSG_LEARN = 9
MSG_FORWARD = 10
VALUE_NOOP = 0
VALUE_BATCH = 1


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def frame(frame_type, payload, magic=WIRE_MAGIC, version=WIRE_VERSION, bad_crc=False):
    head = struct.pack("<IBBHI", magic, version, frame_type, 0, len(payload))
    crc = crc32c(head + payload) ^ (1 if bad_crc else 0)
    return head + struct.pack("<I", crc) + payload


def header_only(frame_type, declared):
    """A frame header declaring `declared` payload bytes (the checksum never matters: the
    payload never arrives whole)."""
    return struct.pack("<IBBHII", WIRE_MAGIC, WIRE_VERSION, frame_type, 0, declared, 0)


FOUNDER = 1  # wire.h WIRE_HELLO_FOUNDER
TIMING_KEYS = ("heartbeat_ms", "election_timeout_min_ms", "election_timeout_max_ms", "lease_ms",
               "drift_ms")


def hello(cluster_id, node_id, peer_id, incarnation=0x1234, flags=0, timing=(20, 300, 600, 250, 25),
          bad_crc=False):
    payload = struct.pack("<IQIIQI5I", WIRE_VERSION, cluster_id, node_id, peer_id, incarnation,
                          flags, *timing)
    return frame(FRAME_HELLO, payload, bad_crc=bad_crc)


def node_info(cluster, node_id):
    return info(cluster.client_ports[node_id], getattr(cluster, "client_ssl", None))


def timing_of(cluster, node_id):
    """A node's timing settings as its HELLO carries them (from INFO)."""
    f = node_info(cluster, node_id)
    return tuple(int(f[k]) for k in TIMING_KEYS)


def real_hello(cluster, node_id, peer_id, **kwargs):
    """The HELLO node_id itself sends (its incarnation and timing settings, from INFO): a
    forged copy then changes nothing but what the test aims at."""
    f = node_info(cluster, node_id)
    flags = FOUNDER if f["incarnation_origin"] == "founder" else 0
    return hello(cluster.cluster_id, node_id, peer_id, incarnation=int(f["incarnation"], 16),
                 flags=flags, timing=timing_of(cluster, node_id), **kwargs)


def ballot(round_, node):
    return struct.pack("<QI", round_, node)


def value(kind, data=b""):
    return struct.pack("<BI", kind, len(data)) + data


def batch(client_id, sequence, command):
    return struct.pack("<IQQI", 1, client_id, sequence, len(command)) + command


def msg(msg_type, sender, to, body):
    return frame(FRAME_MSG, struct.pack("<BII", msg_type, sender, to) + body)


def accept(sender, to, round_, slot, commit, val):
    return msg(MSG_ACCEPT, sender, to, ballot(round_, sender) + struct.pack("<QQ", slot, commit)
               + val)


def learn(sender, to, entries, promised=(0, 0), snapshot_slot=0):
    body = ballot(*promised) + struct.pack("<QI", snapshot_slot, len(entries))
    for slot, val in entries:
        body += struct.pack("<Q", slot) + ballot(0, 0) + val
    return msg(MSG_LEARN, sender, to, body)


def forward(sender, to, client_id, sequence, command):
    return msg(MSG_FORWARD, sender, to, struct.pack("<QQ", client_id, sequence)
               + value(VALUE_BATCH, command))


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
