"""Client TLS (--client-tls-cert/--client-tls-key, optional --client-tls-ca): unmodified
redis-cli --tls works, a plain-TCP client gets nothing, and with a CA a client without a
certificate is refused; the cluster keeps agreeing."""

import ssl
import subprocess

from sec_util import (SLOW, Cluster, check, main, make_ca, make_cert, still_agreeing)


def redis_cli(cluster, node, *args, tls=True, cert=None):
    cmd = ["redis-cli", "-p", str(cluster.client_ports[node])]
    if tls:
        cmd += ["--tls", "--cacert", cluster.ca[1]]
        if cert is not None:
            cmd += ["--cert", cert[0], "--key", cert[1]]
    out = subprocess.run(cmd + list(args), capture_output=True, timeout=10 * SLOW)
    return out.returncode, out.stdout.decode().strip(), out.stderr.decode().strip()


def client_context(cluster, cert=None):
    ctx = ssl.create_default_context(cafile=cluster.ca[1])
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def run(cluster):
    cluster.ca = make_ca(cluster.dir)
    server = make_cert(cluster.dir, cluster.ca, "server", "localhost",
                       "DNS:localhost,IP:127.0.0.1", usage="serverAuth")
    client = make_cert(cluster.dir, cluster.ca, "client", "redis-client", None,
                       usage="clientAuth")
    tls_args = ["--client-tls-cert", server[0], "--client-tls-key", server[1]]
    cluster.extra_args = tls_args
    cluster.client_ssl = client_context(cluster)
    cluster.start_all()
    leader = cluster.leader()
    for node in (1, 2, 3):
        rc, out, err = redis_cli(cluster, node, "SET", "tls-%d" % node, "hello")
        check(rc == 0 and out == "OK", "redis-cli --tls SET on n%d: %r %r" % (node, out, err))
    rc, out, err = redis_cli(cluster, leader % 3 + 1, "GET", "tls-1")
    check(out == "hello", "redis-cli --tls GET: %r %r" % (out, err))
    rc, out, err = redis_cli(cluster, leader, "PING", tls=False)
    check(out != "PONG", "a plain-TCP client gets no answer from a TLS port: %r" % out)
    still_agreeing(cluster, [1, 2, 3], "client-tls")

    # With a CA, client certificates are required.
    cluster.extra_args = tls_args + ["--client-tls-ca", cluster.ca[1]]
    cluster.client_ssl = client_context(cluster, client)
    for node in (1, 2, 3):
        cluster.kill(node)
        cluster.start(node)
    cluster.leader()
    rc, out, err = redis_cli(cluster, 1, "SET", "mtls", "yes", cert=client)
    check(rc == 0 and out == "OK", "redis-cli --tls --cert SET: %r %r" % (out, err))
    rc, out, err = redis_cli(cluster, 2, "GET", "mtls", cert=client)
    check(out == "yes", "redis-cli --tls --cert GET: %r %r" % (out, err))
    rc, out, err = redis_cli(cluster, 2, "GET", "mtls")
    check(out != "yes", "no client certificate: refused: %r %r" % (out, err))
    still_agreeing(cluster, [1, 2, 3], "client-mtls")
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "security_client_tls")
