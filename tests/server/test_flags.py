"""Bad configuration gets a clear error and a non-zero exit before anything starts; a node
that lost its WAL refuses to start without --rejoin."""

import glob
import os
import socket
import subprocess
import tempfile

from ballot_cluster import SLOW, check, free_ports, main


def run_ballotd(cluster, args, timeout=10.0):
    return subprocess.run([cluster.ballotd] + args, capture_output=True, timeout=timeout * SLOW)


def bad_flags(cluster, tmp):
    c, p = free_ports(2)
    data = os.path.join(tmp, "d")
    base = ["--id", "1", "--data-dir", data, "--client", "127.0.0.1:%d" % c]
    conf = os.path.join(tmp, "bad.conf")
    with open(conf, "w") as f:
        f.write("# comment\nid = 1\nno-such-key = 3\n")
    cases = [
        ([], "--id is required"),
        (["--id", "0"], "--id"),
        (["--id", "1", "--client", "127.0.0.1:1"], "--data-dir is required"),
        (["--id", "1", "--data-dir", data], "--client"),
        (base[:4] + ["--client", "nowhere"], "host:port"),
        (base[:4] + ["--client", "127.0.0.1:70000"], "port"),
        (base + ["--bogus"], "unknown flag"),
        (base + ["--lease-ms", "abc"], "lease-ms"),
        (base + ["--peers", "1=127.0.0.1:%d,2=127.0.0.1:1" % p], "1, 3, 5 or 7"),
        (base + ["--peers", "1=127.0.0.1:%d,2=127.0.0.1:1,4=127.0.0.1:2" % p], "missing"),
        (base + ["--peers", "x=1"], "node id"),
        (base + ["--election-timeout-min-ms", "900", "--election-timeout-max-ms", "800"],
         "election_timeout"),
        (base + ["--config", conf], "unknown key 'no-such-key'"),
        (base + ["--config", os.path.join(tmp, "missing.conf")], "cannot open"),
        (base + ["--log-level", "loud"], "log-level"),
    ]
    for args, needle in cases:
        out = run_ballotd(cluster, args)
        err = out.stderr.decode()
        check(out.returncode == 2, "%r: exit %d (want 2): %s" % (args, out.returncode, err))
        check(needle in err and err.startswith("ballotd: "), "%r: message %r" % (args, err))
        check(not os.path.exists(data), "%r: nothing created before the error" % (args,))
    out = run_ballotd(cluster, ["--help"])
    check(out.returncode == 0 and b"--data-dir" in out.stdout, "--help")


def port_in_use(cluster, tmp):
    c, = free_ports(1)
    s = socket.socket()
    s.bind(("127.0.0.1", c))
    s.listen(1)
    try:
        out = run_ballotd(cluster, ["--id", "1", "--data-dir", os.path.join(tmp, "p"),
                                    "--client", "127.0.0.1:%d" % c])
    finally:
        s.close()
    check(out.returncode == 2 and b"cannot listen" in out.stderr, "port in use: %r" % out.stderr)


def lost_wal(cluster):
    """A node that ran before and lost its WAL must not start as an acceptor."""
    cluster.start(1)
    cluster.kill(1)
    for path in glob.glob(os.path.join(cluster.data_dir(1), "wal-*")):
        os.remove(path)
    out = run_ballotd(cluster, cluster.args(1)[1:])
    check(out.returncode == 1 and b"--rejoin" in out.stderr,
          "missing WAL refused: %d %r" % (out.returncode, out.stderr))


def run(cluster):
    with tempfile.TemporaryDirectory() as tmp:
        bad_flags(cluster, tmp)
        port_in_use(cluster, tmp)
    lost_wal(cluster)


if __name__ == "__main__":
    main(run, "server_flags", nodes=1)
