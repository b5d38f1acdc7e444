"""Write on one node, read on all; pipelining answered in order; the RESP commands and
errors; redis-cli and the ballot CLI against a live 3-node cluster."""

import subprocess

from ballot_cluster import RespError, check, main


def read_everywhere(cluster, key, expected):
    for i in range(1, cluster.n + 1):
        c = cluster.client(i)
        got = c.cmd("GET", key)
        c.close()
        check(got == expected, "node %d GET %s = %r, expected %r" % (i, key, got, expected))


def kv_commands(cluster, leader, follower):
    c = cluster.client(follower)
    check(c.cmd("SET", "greeting", "hello") == "OK", "SET through a follower")
    read_everywhere(cluster, "greeting", b"hello")
    check(c.cmd("SET", "bin", b"a\x00b\r\nc") == "OK", "binary SET")
    read_everywhere(cluster, "bin", b"a\x00b\r\nc")
    check(c.cmd("INCR", "counter") == 1, "INCR new key")
    check(c.cmd("INCR", "counter") == 2, "INCR again")
    check(isinstance(c.cmd("INCR", "greeting"), RespError), "INCR on text is an error")
    check(c.cmd("CAS", "greeting", "hello", "world") == 1, "CAS swaps")
    check(c.cmd("CAS", "greeting", "hello", "again") == 0, "CAS refuses a stale value")
    check(c.cmd("CAS", "missing", "x", "y") == 0, "CAS on a missing key")
    check(c.cmd("EXISTS", "greeting", "missing", "counter") == 2, "EXISTS counts")
    check(c.cmd("DEL", "counter", "missing") == 1, "DEL counts")
    check(c.cmd("GET", "counter") is None, "GET after DEL is nil")
    c.close()
    read_everywhere(cluster, "greeting", b"world")


def pipelining(cluster, node):
    c = cluster.client(node)
    batch = []
    expected = []
    for k in range(200):
        batch.append(c.encode("SET", "p%d" % k, "v%d" % k))
        expected.append("OK")
        batch.append(c.encode("GET", "p%d" % k))
        expected.append(b"v%d" % k)
        batch.append(c.encode("INCR", "pc%d" % node))
        expected.append(k + 1)
        if k % 50 == 0:
            batch.append(c.encode("PING"))
            expected.append("PONG")
    c.send_raw(b"".join(batch))
    got = [c.read() for _ in expected]
    if got != expected:
        first = next((i, g, e) for i, (g, e) in enumerate(zip(got, expected)) if g != e)
        check(False, "pipelined replies wrong on node %d: first difference %r" % (node, first))
    c.close()


def admin_commands(cluster, leader, follower):
    c = cluster.client(follower)
    check(c.cmd("PING") == "PONG", "PING")
    check(c.cmd("PING", "hi") == b"hi", "PING msg")
    check(c.cmd("ECHO", "x y") == b"x y", "ECHO")
    check(c.cmd("CLIENT", "SETNAME", "tester") == "OK", "CLIENT SETNAME")
    check(c.cmd("CLIENT", "GETNAME") == b"tester", "CLIENT GETNAME")
    check(c.cmd("SELECT", "0") == "OK", "SELECT 0")
    check(isinstance(c.cmd("SELECT", "1"), RespError), "SELECT 1 refused")
    # The connection then refuses commands until SELECT 0: nothing lands in db 0 unnoticed.
    check(isinstance(c.cmd("GET", "greeting"), RespError), "GET after a failed SELECT")
    check(c.cmd("SELECT", "0") == "OK", "SELECT 0 again")
    cfg = c.cmd("CONFIG", "GET", "save")
    check(cfg == [b"save", b""], "CONFIG GET save: %r" % cfg)
    check(isinstance(c.cmd("COMMAND"), list), "COMMAND")
    err = c.cmd("NOSUCH", "a")
    check(isinstance(err, RespError) and str(err).startswith("ERR unknown command"),
          "unknown command: %r" % err)
    err = c.cmd("GET")
    check(isinstance(err, RespError) and "wrong number of arguments" in str(err), "arity")
    err = c.cmd("SET", "k", "x" * 5000)
    check(isinstance(err, RespError) and str(err).startswith("TOOLARGE"), "TOOLARGE: %r" % err)
    info = c.cmd("INFO").decode()
    for field in ("role:follower", "leader_id:%d" % leader, "commit_index:", "ballot:r"):
        check(field in info, "INFO lacks %s" % field)
    # Stale reads: the connection's option, documented as such.
    check(c.cmd("READONLY") == "OK", "READONLY")
    check(c.cmd("GET", "greeting") == b"world", "stale GET")
    check(c.cmd("READWRITE") == "OK", "READWRITE")
    check(c.cmd("QUIT") == "OK", "QUIT")
    check(c.closed_by_server(), "QUIT closes")


def tools(cluster, leader):
    port = cluster.client_ports[(leader % cluster.n) + 1]
    out = subprocess.run(["redis-cli", "-p", str(port), "set", "cli-key", "from redis-cli"],
                         capture_output=True, timeout=10)
    check(out.stdout.strip() == b"OK", "redis-cli set: %r" % out.stdout)
    out = subprocess.run(["redis-cli", "-p", str(cluster.client_ports[leader]), "get",
                          "cli-key"], capture_output=True, timeout=10)
    check(out.stdout.strip() == b"from redis-cli", "redis-cli get: %r" % out.stdout)
    nodes = ",".join("127.0.0.1:%d" % cluster.client_ports[i] for i in range(1, cluster.n + 1))
    out = subprocess.run([cluster.ballot, "--cluster", nodes, "get", "cli-key"],
                         capture_output=True, timeout=10)
    check(out.returncode == 0 and out.stdout.strip() == b"from redis-cli",
          "ballot get: %r" % out.stdout)
    out = subprocess.run([cluster.ballot, "--cluster", nodes, "status"], capture_output=True,
                         timeout=10)
    check(out.returncode == 0 and b"leader" in out.stdout, "ballot status: %r" % out.stdout)
    target = (leader % cluster.n) + 1
    out = subprocess.run([cluster.ballot, "--cluster", nodes, "transfer-leader", str(target)],
                         capture_output=True, timeout=20)
    check(out.returncode == 0, "ballot transfer-leader: %r %r" % (out.stdout, out.stderr))
    check(cluster.leader() == target, "leadership moved to n%d" % target)


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = (leader % cluster.n) + 1
    kv_commands(cluster, leader, follower)
    pipelining(cluster, leader)
    pipelining(cluster, follower)
    admin_commands(cluster, leader, follower)
    tools(cluster, leader)
    codes = cluster.stop_all()
    check(all(code == 0 for code in codes.values()), "SIGTERM exit codes %r" % codes)


if __name__ == "__main__":
    main(run, "server_basic", extra_args=["--value-bytes-max", "4096"])
