"""Backup and restore: `ballot snapshot save` from a 3-node cluster under write load, then
`ballot snapshot restore` into three fresh data directories and a new cluster on other
ports started from them. Every write acknowledged before the save started is there (with
its value or a later one), the new cluster takes writes, and damaged files and non-empty
directories are refused (docs/operations.md "Backup and restore")."""

import os
import shutil
import signal
import subprocess
import threading
import time

from ballot_cluster import SLOW, Cluster, RespError, check, free_ports, info, main

WRITERS = 3
KEYS_PER_WRITER = 40
PRELOAD_KEYS = 300
LOAD_SECONDS_MAX = 20.0


class Writer(threading.Thread):
    """SETs w<id>-<k> = "<id>:<n>" with n rising, one request at a time; records the
    newest n acknowledged per key with the time of the acknowledgement."""

    def __init__(self, cluster, wid, node):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.wid = wid
        self.node = node
        self.stop = threading.Event()
        self.acked = {}  # key -> list of (ack time, n), in order
        self.sent_max = {}  # key -> highest n sent
        self.errors = 0
        self.count = 0

    def run(self):
        c = None
        deadline = time.monotonic() + LOAD_SECONDS_MAX * SLOW
        n = 0
        while not self.stop.is_set() and time.monotonic() < deadline and n < 200000:
            n += 1
            key = "w%d-%d" % (self.wid, n % KEYS_PER_WRITER)
            try:
                if c is None:
                    c = self.cluster.client(self.node)
                self.sent_max[key] = n
                r = c.cmd("SET", key, "%d:%d" % (self.wid, n))
            except OSError:
                c = None
                self.errors += 1
                time.sleep(0.01)
                continue
            if r == "OK":
                self.acked.setdefault(key, []).append((time.monotonic(), n))
                self.count += 1
            else:
                self.errors += 1
        if c is not None:
            c.close()


def run(args, expect_ok=True):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60 * SLOW)
    out, err = p.stdout.decode(), p.stderr.decode()
    if expect_ok:
        check(p.returncode == 0, "%r failed (%d): %s%s" % (args, p.returncode, out, err))
    return p.returncode, out, err


def addrs(cluster):
    return ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in range(1, cluster.n + 1))


def status_fields(text):
    fields = {}
    for line in text.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            fields[k] = v
    return fields


def preload(cluster):
    c = cluster.client(1)
    c.send_raw(b"".join(c.encode("SET", "pre%d" % k, "v%d" % k) for k in range(PRELOAD_KEYS)))
    replies = [c.read() for _ in range(PRELOAD_KEYS)]
    c.close()
    check(all(r == "OK" for r in replies), "preload writes failed: %r" % replies[:5])


def save_under_load(cluster, path):
    writers = [Writer(cluster, w, 1 + w % cluster.n) for w in range(WRITERS)]
    for w in writers:
        w.start()
    time.sleep(0.5 * SLOW)
    save_started = time.monotonic()
    # The first address has no node: save goes on to the next one.
    dead = "127.0.0.1:%d" % free_ports(1)[0]
    _, out, err = run([cluster.ballot, "snapshot", "save", path, "--cluster",
                       dead + "," + addrs(cluster)])
    save_done = time.monotonic()
    time.sleep(0.3 * SLOW)
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(30 * SLOW)
    print(out.strip())
    check("trying the next node" in err, "save did not report the dead node: %r" % err)
    print("writers: %s acknowledged writes, save took %.0f ms" %
          ([w.count for w in writers], (save_done - save_started) * 1000))
    check(os.path.exists(path) and not os.path.exists(path + ".part"), "save left no file")
    before = sum(1 for w in writers for acks in w.acked.values() for t, _ in acks
                 if t < save_started)
    check(before > 0, "no write was acknowledged before the save started")
    return writers, save_started


def expected_values(writers, save_started):
    """key -> (lowest n the restored value may have, highest n ever sent)."""
    expect = {}
    for w in writers:
        for key, acks in w.acked.items():
            before = [n for t, n in acks if t < save_started]
            if before:
                expect[key] = (w.wid, max(before), w.sent_max[key])
    return expect


def check_restored(new, expect, slot):
    c = new.client(1)
    for k in range(PRELOAD_KEYS):
        got = c.cmd("GET", "pre%d" % k)
        check(got == b"v%d" % k, "restored pre%d = %r" % (k, got))
    for key, (wid, low, high) in sorted(expect.items()):
        got = c.cmd("GET", key)
        check(isinstance(got, bytes), "restored %s missing (%r)" % (key, got))
        gw, gn = (int(x) for x in got.decode().split(":"))
        check(gw == wid and low <= gn <= high,
              "restored %s = %r: the newest value acknowledged before the save was %d:%d" %
              (key, got, wid, low))
    c.close()
    for i in range(1, new.n + 1):
        f = info(new.client_ports[i])
        check(int(f["applied_index"]) >= slot,
              "restored node %d applied %s < the snapshot's slot %d" %
              (i, f["applied_index"], slot))
        check("restored snapshot at slot %d" % slot in new.log_text(i),
              "node %d did not start from the snapshot:\n%s" % (i, new.log_text(i)))


def new_writes(new):
    leader = new.leader()
    follower = 1 + leader % new.n
    check(new.write_retry(follower, "SET", "after-restore", "yes") == "OK", "SET after restore")
    check(new.write_retry(leader, "INCR", "restored-counter") == 1, "INCR after restore")
    new.wait_applied(range(1, new.n + 1))
    for i in range(1, new.n + 1):
        c = new.client(i)
        check(c.cmd("GET", "after-restore") == b"yes", "node %d reads the new write" % i)
        check(c.cmd("GET", "pre7") == b"v7", "node %d reads a restored key" % i)
        c.close()
    # A restored node restarts from its own WAL and snapshot like any other.
    check(new.kill(follower, signal.SIGTERM) == 0, "restored node %d stops cleanly" % follower)
    new.start(follower)
    check(new.write_retry(leader, "SET", "after-restart", "yes") == "OK", "SET after restart")
    new.wait_applied(range(1, new.n + 1))
    c = new.client(follower)
    check(c.cmd("GET", "after-restart") == b"yes", "the restarted node reads on")
    c.close()


def damaged_files(cluster, path, scratch):
    size = os.path.getsize(path)
    cases = {"data": size // 2, "header": 20, "table": size - 2}
    for name, offset in cases.items():
        bad = os.path.join(scratch, "bad-%s.snap" % name)
        shutil.copyfile(path, bad)
        with open(bad, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x40]))
        rc, out, err = run([cluster.ballot, "snapshot", "status", bad], expect_ok=False)
        check("Sanitizer" not in err, "the CLI failed a sanitizer check: %s" % err)
        check(rc == 1 and "damaged" in err and "checksum: FAILED" in out,
              "status of a file flipped in the %s: %d %r %r" % (name, rc, out, err))
        target = os.path.join(scratch, "restore-%s" % name)
        rc, out, err = run([cluster.ballot, "snapshot", "restore", bad, "--data-dir", target],
                           expect_ok=False)
        check(rc == 1 and "damaged" in err and "nothing restored" in err,
              "restore of a file flipped in the %s: %d %r %r" % (name, rc, out, err))
        check(not os.path.exists(target), "a refused restore created %s" % target)
    short = os.path.join(scratch, "short.snap")
    with open(path, "rb") as src, open(short, "wb") as dst:
        dst.write(src.read(size - 100))
    rc, _, err = run([cluster.ballot, "snapshot", "status", short], expect_ok=False)
    check(rc == 1 and "damaged" in err, "a cut file: %d %r" % (rc, err))


def begin_ready(c):
    """BEGIN, then READY until the image is written: ([id, slot], [bytes, crc, keys])."""
    begun = c.cmd("BALLOT.SNAPSHOT", "BEGIN")
    check(isinstance(begun, list) and len(begun) == 2, "BEGIN: %r" % begun)
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline:
        ready = c.cmd("BALLOT.SNAPSHOT", "READY", begun[0])
        if not (isinstance(ready, RespError) and str(ready).startswith("TRYAGAIN")):
            check(isinstance(ready, list) and len(ready) == 3, "READY: %r" % ready)
            return begun, ready
        time.sleep(0.01)
    raise AssertionError("the image of save %r was not written" % begun)


def save_protocol(cluster):
    """BALLOT.SNAPSHOT's bounds: bad arguments, unknown ids, at most two saves in flight."""
    c = cluster.client(2)
    check(isinstance(c.cmd("BALLOT.SNAPSHOT"), RespError), "no subcommand")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "NOPE"), RespError), "unknown subcommand")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "CHUNK", "999", "0"), RespError), "unknown id")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "CHUNK", "-1", "0"), RespError), "negative id")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "READY", "0"), RespError), "id 0")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "END", "x" * 100), RespError), "long id")
    first, first_ready = begin_ready(c)
    second, _ = begin_ready(c)
    third = c.cmd("BALLOT.SNAPSHOT", "BEGIN")
    check(isinstance(third, RespError) and "BUSY" in str(third), "a third save: %r" % third)
    size = first_ready[0]
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "CHUNK", first[0], size + 1), RespError),
          "offset past the end")
    tail = c.cmd("BALLOT.SNAPSHOT", "CHUNK", first[0], size - 10)
    check(isinstance(tail, bytes) and len(tail) == 10, "the last bytes: %r" % tail)
    check(c.cmd("BALLOT.SNAPSHOT", "END", first[0]) == "OK", "END")
    check(isinstance(c.cmd("BALLOT.SNAPSHOT", "END", first[0]), RespError), "END twice")
    again, _ = begin_ready(c)
    check(c.cmd("BALLOT.SNAPSHOT", "END", second[0]) == "OK", "END second")
    check(c.cmd("BALLOT.SNAPSHOT", "END", again[0]) == "OK", "END third")
    # A save abandoned while its image is written is dropped by END without waiting.
    pending = c.cmd("BALLOT.SNAPSHOT", "BEGIN")
    check(isinstance(pending, list), "BEGIN: %r" % pending)
    check(c.cmd("BALLOT.SNAPSHOT", "END", pending[0]) == "OK", "END while writing")
    c.close()
    leftovers = [f for i in range(1, cluster.n + 1) for f in os.listdir(cluster.data_dir(i))
                 if f.startswith("backup-")]
    check(not leftovers, "image files left in the data directories: %r" % leftovers)


def test(cluster):
    cluster.start_all()
    cluster.leader()
    preload(cluster)
    scratch = os.path.join(cluster.dir, "backups")
    os.makedirs(scratch)
    path = os.path.join(scratch, "cluster.snap")
    writers, save_started = save_under_load(cluster, path)
    expect = expected_values(writers, save_started)

    _, out, _ = run([cluster.ballot, "snapshot", "status", path])
    fields = status_fields(out)
    slot = int(fields["slot"])
    check(fields["checksum"] == "ok", "status: %r" % out)
    check(int(fields["keys"]) >= PRELOAD_KEYS + len(expect), "status keys: %r" % out)

    new = Cluster(os.path.dirname(cluster.ballot), name="restored")
    ok = False
    try:
        for i in range(1, new.n + 1):
            run([cluster.ballot, "snapshot", "restore", path, "--data-dir", new.data_dir(i)])
        rc, _, err = run([cluster.ballot, "snapshot", "restore", path, "--data-dir",
                          new.data_dir(1)], expect_ok=False)
        check(rc == 1 and "not empty" in err, "restore into a non-empty dir: %d %r" % (rc, err))
        # Without --bootstrap a directory holding only a restored snapshot is refused.
        p = subprocess.run(new.args(1, bootstrap=False), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20 * SLOW)
        check(p.returncode != 0 and b"a restored backup founds a new cluster" in p.stdout,
              "a restored dir started without --bootstrap: %d %r" % (p.returncode, p.stdout))
        t0 = time.monotonic()
        new.start_all()  # the first start of each node has --bootstrap
        new.leader()
        print("restored cluster up with a leader in %.0f ms" % ((time.monotonic() - t0) * 1000))
        check_restored(new, expect, slot)
        new_writes(new)
        print("restored: %d preloaded + %d written keys checked at slot %d" %
              (PRELOAD_KEYS, len(expect), slot))
        codes = new.stop_all()
        check(all(code == 0 for code in codes.values()), "restored cluster stops: %r" % codes)
        ok = True
    finally:
        new.cleanup(ok)

    damaged_files(cluster, path, scratch)
    save_protocol(cluster)
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "clean stop: %r" % codes)


if __name__ == "__main__":
    main(test, "backup")
