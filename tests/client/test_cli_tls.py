"""The `ballot` CLI over client TLS (docs/cli.md "TLS"): --cacert checks the server,
--cert/--key present a client certificate when the nodes require one, and a wrong CA or a
missing certificate is an error naming TLS, not a hang."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, "..", "security"))
from ballot_cluster import SLOW, check, main  # noqa: E402
from sec_util import make_ca, make_cert  # noqa: E402


def cli(cluster, *args):
    nodes = ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in sorted(cluster.procs))
    out = subprocess.run([cluster.ballot, "--cluster", nodes, "--timeout", "2000"] + list(args),
                         capture_output=True, timeout=30 * SLOW)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def run(cluster):
    import ssl
    ca = make_ca(cluster.dir)
    other_ca = make_ca(cluster.dir, "other")
    server = make_cert(cluster.dir, ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1",
                       usage="serverAuth")
    client = make_cert(cluster.dir, ca, "client", "ballot-cli", None, usage="clientAuth")
    cluster.extra_args = ["--client-tls-cert", server[0], "--client-tls-key", server[1],
                          "--client-tls-ca", ca[1]]
    ctx = ssl.create_default_context(cafile=ca[1])
    ctx.load_cert_chain(client[0], client[1])
    cluster.client_ssl = ctx
    cluster.start_all()
    cluster.leader()
    tls = ["--cacert", ca[1], "--cert", client[0], "--key", client[1]]
    rc, out, err = cli(cluster, *tls, "set", "tls-key", "over-tls")
    check(rc == 0 and out == "OK\n", "set over mutual TLS: %r %r %r" % (rc, out, err))
    rc, out, err = cli(cluster, "get", "tls-key", *tls)
    check(rc == 0 and out == "over-tls\n", "get over mutual TLS: %r %r %r" % (rc, out, err))
    rc, out, err = cli(cluster, *tls, "-w", "json", "status")
    check(rc == 0 and '"leader"' in out, "status over TLS: %r %r" % (out, err))
    rc, out, err = cli(cluster, "--cacert", other_ca[1], "--cert", client[0], "--key",
                       client[1], "get", "tls-key")
    check(rc == 3 and "certificate" in err, "a server from another CA: %r %r" % (rc, err))
    rc, out, err = cli(cluster, "--cacert", ca[1], "get", "tls-key")
    check(rc == 3 and out == "", "no client certificate: %r %r %r" % (rc, out, err))
    rc, out, err = cli(cluster, "get", "tls-key")
    check(rc == 3 and out == "", "plain TCP to a TLS port: %r %r %r" % (rc, out, err))
    rc, out, err = cli(cluster, "--cacert", os.path.join(cluster.dir, "nope.pem"), "get", "k")
    check(rc == 3 and "nope.pem" in err, "a missing CA file is named: %r %r" % (rc, err))
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "client_cli_tls")
