"""redis-benchmark, unmodified, with pipelining, against the leader and a follower: no
errors, and every node ends with the same keys."""

import subprocess

from ballot_cluster import SANITIZED, check, info, main


def bench(port, tests, requests, clients, pipeline):
    cmd = ["redis-benchmark", "-p", str(port), "-t", tests, "-n", str(requests), "-c",
           str(clients), "-P", str(pipeline), "-r", "1000", "-q"]
    out = subprocess.run(cmd, capture_output=True, timeout=120)
    text = (out.stdout + out.stderr).decode(errors="replace")
    check(out.returncode == 0, "%s exited %d: %s" % (cmd, out.returncode, text[-500:]))
    check("rror" not in text, "%s reported errors: %s" % (cmd, text[-1000:]))
    return text


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = (leader % cluster.n) + 1
    scale = 1 if SANITIZED else 4
    bench(cluster.client_ports[leader], "set,get,incr", 2000 * scale, 16, 16)
    bench(cluster.client_ports[follower], "set,get", 500 * scale, 8, 16)
    bench(cluster.client_ports[leader], "ping,set", 500 * scale, 4, 1)
    state = cluster.wait_applied(range(1, cluster.n + 1))
    keys = {i: info(cluster.client_ports[i])["db0"] for i in range(1, cluster.n + 1)}
    check(len(set(keys.values())) == 1, "every node has the same keys: %r %r" % (keys, state))
    for i in range(1, cluster.n + 1):
        errors = int(info(cluster.client_ports[i])["errors_replied"])
        check(errors == 0, "n%d replied %d errors" % (i, errors))
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "server_benchmark")
