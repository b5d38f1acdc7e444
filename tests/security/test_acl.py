"""Users and ACLs on one ballotd with a users file, through raw RESP, redis-cli, redis-py and
ioredis: AUTH, WRONGPASS, disabled users, NOAUTH before AUTH, NOPERM by category and by key,
@admin commands, ACL WHOAMI/LIST/USERS/CAT, HELLO, CLIENT KILL, and a bad users file."""

import json
import os
import shutil
import subprocess

from acl_common import (PASSWORDS, Resp, check, error_text, expect_error, login, sha,
                        write_users)
import ballot_cluster

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOKEY = "NOPERM No permissions to access a key"
HERE = os.path.dirname(os.path.abspath(__file__))


def noperm(user, command):
    return "NOPERM User %s has no permissions to run the '%s' command" % (user, command)


def raw_resp(port):
    c = Resp(port)
    expect_error(c.cmd("PING"), NOAUTH, "PING before AUTH")
    expect_error(c.cmd("GET", "app:1"), NOAUTH, "GET before AUTH")
    expect_error(c.cmd("ACL", "WHOAMI"), NOAUTH, "ACL WHOAMI before AUTH")
    expect_error(c.cmd("NOSUCHCOMMAND"), NOAUTH, "unknown command before AUTH")
    expect_error(c.cmd("AUTH", "alice", "wrong"), WRONGPASS, "wrong password")
    expect_error(c.cmd("AUTH", "nosuchuser", "x"), WRONGPASS, "unknown user")
    expect_error(c.cmd("AUTH", "bob", PASSWORDS["bob"]), WRONGPASS, "disabled user")
    expect_error(c.cmd("AUTH", "wrong"), WRONGPASS, "AUTH password of default")
    expect_error(c.cmd("PING"), NOAUTH, "still not authenticated")
    check(c.cmd("AUTH", "alice", PASSWORDS["alice"]) == "OK", "AUTH alice")
    check(c.cmd("ACL", "WHOAMI") == b"alice", "ACL WHOAMI")
    check(c.cmd("SET", "app:1", "v1") == "OK", "alice SET app:1")
    check(c.cmd("GET", "app:1") == b"v1", "alice GET app:1")
    check(c.cmd("EXISTS", "app:1", "shared:x") == 1, "alice EXISTS")
    expect_error(c.cmd("SET", "other", "v"), NOKEY, "alice SET outside ~app:*")
    expect_error(c.cmd("GET", "shared:xy"), NOKEY, "alice GET shared:xy (pattern shared:?)")
    expect_error(c.cmd("DEL", "app:1", "other"), NOKEY, "alice DEL with one key outside")
    expect_error(c.cmd("EXISTS", "app:1", "other"), NOKEY, "alice EXISTS with one key outside")
    check(c.cmd("GET", "app:1") == b"v1", "the refused DEL changed nothing")
    expect_error(c.cmd("CONFIG", "GET", "save"), noperm("alice", "config"), "alice CONFIG")
    expect_error(c.cmd("BALLOT.TRANSFER", "2"), noperm("alice", "ballot.transfer"),
                 "alice BALLOT.TRANSFER")
    expect_error(c.cmd("CLIENT", "LIST"), noperm("alice", "client|list"), "alice CLIENT LIST")
    expect_error(c.cmd("CLIENT", "KILL", "ID", "1"), noperm("alice", "client|kill"),
                 "alice CLIENT KILL")
    expect_error(c.cmd("INFO"), noperm("alice", "info"), "alice INFO")
    expect_error(c.cmd("ACL", "LIST"), noperm("alice", "acl|list"), "alice ACL LIST")
    check(c.cmd("CLIENT", "SETNAME", "alice-conn") == "OK", "alice CLIENT SETNAME")
    check(c.cmd("PING") == "PONG", "alice PING")
    # AUTH again switches user; a failed AUTH keeps the current one.
    expect_error(c.cmd("AUTH", "reader", "wrong"), WRONGPASS, "wrong password for reader")
    check(c.cmd("ACL", "WHOAMI") == b"alice", "still alice after a failed AUTH")
    check(c.cmd("AUTH", "reader", PASSWORDS["reader"]) == "OK", "AUTH reader")
    expect_error(c.cmd("SET", "app:1", "x"), noperm("reader", "set"), "reader SET (@write)")
    check(c.cmd("GET", "app:1") == b"v1", "reader GET")
    expect_error(c.cmd("ACL", "WHOAMI"), noperm("reader", "acl|whoami"), "reader ACL WHOAMI")
    c.close()

    # The default user has a password here: AUTH <password> is AUTH default <password>.
    c = Resp(port)
    check(c.cmd("AUTH", PASSWORDS["default"]) == "OK", "AUTH <password> for default")
    check(c.cmd("GET", "app:1") == b"v1", "default GET")
    expect_error(c.cmd("SET", "k", "v"), noperm("default", "set"), "default SET")
    c.close()

    # A nopass user takes any password.
    c = Resp(port)
    check(c.cmd("AUTH", "mon", "anything") == "OK", "AUTH nopass user")
    check(b"role:leader" in c.cmd("INFO"), "mon INFO")
    expect_error(c.cmd("GET", "app:1"), noperm("mon", "get"), "mon GET")
    c.close()


def hello(port):
    c = Resp(port)
    expect_error(c.cmd("HELLO", "3"), "NOPROTO sorry, this protocol version is not supported.",
                 "HELLO 3")
    check((error_text(c.cmd("HELLO", "2")) or "").startswith(
        "NOAUTH HELLO must be called with the client already authenticated"), "HELLO 2 no AUTH")
    expect_error(c.cmd("HELLO", "2", "AUTH", "alice", "wrong"), WRONGPASS, "HELLO AUTH wrong")
    r = c.cmd("HELLO", "2", "AUTH", "alice", PASSWORDS["alice"], "SETNAME", "hello-conn")
    check(isinstance(r, list) and r[r.index(b"proto") + 1] == 2, "HELLO 2 AUTH: %r" % (r,))
    check(c.cmd("CLIENT", "GETNAME") == b"hello-conn", "HELLO SETNAME")
    check(c.cmd("ACL", "WHOAMI") == b"alice", "HELLO AUTH user")
    c.close()


def admin(port):
    c = login(port, "admin")
    users = c.cmd("ACL", "USERS")
    check(users == [b"admin", b"alice", b"bob", b"default", b"mon", b"reader"],
          "ACL USERS: %r" % (users,))
    lines = [x.decode() for x in c.cmd("ACL", "LIST")]
    want_alice = ("user alice on #%s ~app:* ~shared:? resetchannels -@all +@read +@write +ping "
                  "+client|setname +client|getname +acl|whoami" % sha(PASSWORDS["alice"]))
    check(want_alice in lines, "ACL LIST alice: %r" % (lines,))
    check("user bob off #%s ~* resetchannels +@all" % sha(PASSWORDS["bob"]) in lines,
          "ACL LIST bob: %r" % (lines,))
    check("user mon on nopass resetchannels -@all +info +ping" in lines, "ACL LIST mon")
    cats = [x.decode() for x in c.cmd("ACL", "CAT")]
    for cat in ("keyspace", "read", "write", "string", "fast", "slow", "admin", "dangerous",
                "connection"):
        check(cat in cats, "ACL CAT lacks %s: %r" % (cat, cats))
    admin_cmds = [x.decode() for x in c.cmd("ACL", "CAT", "admin")]
    for name in ("config", "ballot.transfer", "ballot.snapshot", "client|list", "client|kill",
                 "info", "acl|list"):
        check(name in admin_cmds, "ACL CAT admin lacks %s: %r" % (name, admin_cmds))
    check("get" not in admin_cmds, "get is not @admin")
    read_cmds = [x.decode() for x in c.cmd("ACL", "CAT", "read")]
    check(set(read_cmds) == {"get", "exists", "dbsize", "mget", "strlen", "getrange", "substr",
                             "type", "keys", "scan", "randomkey", "touch", "ttl", "pttl",
                             "expiretime", "pexpiretime"}, "ACL CAT read: %r" % (read_cmds,))
    expect_error(c.cmd("ACL", "CAT", "nosuch"), "ERR Unknown category 'nosuch'", "ACL CAT bad")
    # Every command ballotd has is in some category.
    in_some = set()
    for cat in cats:
        for name in c.cmd("ACL", "CAT", cat):
            in_some.add(name.decode().split("|")[0])
    for name in c.cmd("COMMAND", "LIST"):
        check(name.decode() in in_some, "command %s has no category" % name.decode())
    check(c.cmd("CONFIG", "GET", "appendonly") == [b"appendonly", b"yes"], "admin CONFIG GET")
    r = c.cmd("BALLOT.TRANSFER", "2")
    check((error_text(r) or "").startswith("ERR node id"), "admin BALLOT.TRANSFER: %r" % (r,))

    victim = login(port, "alice")
    listing = c.cmd("CLIENT", "LIST").decode()
    check("user=alice" in listing and "user=admin" in listing, "CLIENT LIST: %r" % listing)
    check(c.cmd("CLIENT", "KILL", "USER", "alice") == 1, "CLIENT KILL USER alice")
    check(victim.closed_by_server(), "the killed client is disconnected")
    check(c.cmd("PING") == "PONG", "the admin connection lives on")
    c.close()


def redis_cli(port):
    base = ["redis-cli", "-p", str(port), "--no-auth-warning"]

    def run(*args):
        p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip()

    out = run("--user", "alice", "--pass", PASSWORDS["alice"], "SET", "app:cli", "1")
    check(out == "OK", "redis-cli --user/--pass SET: %r" % out)
    out = run("--user", "alice", "--pass", PASSWORDS["alice"], "GET", "app:cli")
    check(out == "1", "redis-cli GET: %r" % out)
    out = run("--user", "alice", "--pass", PASSWORDS["alice"], "SET", "nope", "1")
    check(out == NOKEY, "redis-cli key NOPERM: %r" % out)
    out = run("--user", "alice", "--pass", PASSWORDS["alice"], "CONFIG", "GET", "save")
    check(out == noperm("alice", "config"), "redis-cli command NOPERM: %r" % out)
    out = run("--user", "alice", "--pass", "wrong", "GET", "app:cli")
    check(WRONGPASS in out, "redis-cli wrong password: %r" % out)
    out = run("-a", PASSWORDS["default"], "GET", "app:cli")
    check(out == "1", "redis-cli -a (default user): %r" % out)
    out = run("GET", "app:cli")
    check(out == NOAUTH, "redis-cli without credentials: %r" % out)
    env = dict(os.environ, REDISCLI_AUTH=PASSWORDS["default"])
    p = subprocess.run(base + ["GET", "app:cli"], capture_output=True, text=True, timeout=20,
                       env=env)
    check(p.stdout.strip() == "1", "REDISCLI_AUTH: %r" % p.stdout)


def redis_py(port):
    import redis
    r = redis.Redis(host="127.0.0.1", port=port, username="alice", password=PASSWORDS["alice"],
                    socket_timeout=10)
    check(r.set("app:py", "7") is True, "redis-py SET")
    check(r.get("app:py") == b"7", "redis-py GET")
    try:
        r.set("elsewhere", "1")
        raise ballot_cluster.TestFailure("redis-py: SET outside the pattern passed")
    except redis.exceptions.NoPermissionError as e:
        check(str(e) == "No permissions to access a key", "redis-py key error: %r" % str(e))
    try:
        r.config_get("save")
        raise ballot_cluster.TestFailure("redis-py: CONFIG passed")
    except redis.exceptions.NoPermissionError as e:
        check("has no permissions to run the 'config' command" in str(e), "redis-py: %r" % e)
    r.close()
    for user, pw in (("alice", "wrong"), ("bob", PASSWORDS["bob"])):
        bad = redis.Redis(host="127.0.0.1", port=port, username=user, password=pw,
                          socket_timeout=10)
        try:
            bad.ping()
            raise ballot_cluster.TestFailure("redis-py: %s with %s passed" % (user, pw))
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as e:
            # redis-py 4.3 raises WRONGPASS as a ResponseError, later ones as an
            # AuthenticationError.
            check("invalid username-password pair" in str(e), "redis-py WRONGPASS: %r" % e)
        bad.close()
    anon = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    try:
        anon.get("app:py")
        raise ballot_cluster.TestFailure("redis-py without credentials passed")
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as e:
        check("Authentication required" in str(e), "redis-py NOAUTH: %r" % e)
    anon.close()


def ioredis(port):
    clients = os.path.join(HERE, "clients")
    check(os.path.isdir(os.path.join(clients, "node_modules", "ioredis")),
          "ioredis is not installed: run `npm ci` in tests/security/clients "
          "(scripts/install-deps.sh does)")
    p = subprocess.run(["node", os.path.join(clients, "acl_ioredis.js"), str(port),
                        PASSWORDS["alice"]], capture_output=True, text=True, timeout=60,
                       cwd=clients)
    check(p.returncode == 0, "ioredis script failed: %s %s" % (p.stdout, p.stderr))
    got = json.loads(p.stdout)
    check(got["set"] == "OK" and got["get"] == "v", "ioredis SET/GET: %r" % got)
    check(got["nokey"] == NOKEY, "ioredis key NOPERM: %r" % got)
    check(got["nocmd"] == noperm("alice", "config"), "ioredis command NOPERM: %r" % got)
    check(WRONGPASS in got["wrongpass"], "ioredis wrong password: %r" % got)


def bad_users_file(cluster):
    path = os.path.join(cluster.dir, "bad.acl")
    with open(path, "w") as f:
        f.write("user default off\nuser alice on #%s ~app:* +@read\nuser eve on +@nosuch\n"
                % sha("x"))
    data = os.path.join(cluster.dir, "never")
    p = subprocess.run([cluster.ballotd, "--id", "1", "--data-dir", data, "--client",
                        "127.0.0.1:%d" % ballot_cluster.free_ports(1)[0], "--users-file", path],
                       capture_output=True, text=True, timeout=20)
    check(p.returncode == 2, "bad users file: exit %d" % p.returncode)
    check("%s:3: unknown command category 'nosuch'" % path in p.stderr,
          "bad users file message: %r" % p.stderr)
    check(not os.path.exists(data), "nothing started (no data directory)")


def test(cluster):
    path = write_users(cluster)
    cluster.extra_args = ["--users-file", path]
    cluster.start_all()
    port = cluster.client_ports[1]
    raw_resp(port)
    hello(port)
    admin(port)
    redis_cli(port)
    redis_py(port)
    if shutil.which("node"):
        ioredis(port)
    else:
        raise ballot_cluster.TestFailure("node is not installed (scripts/install-deps.sh)")
    bad_users_file(cluster)
    check("client user(s) from" in cluster.log_text(1), "the log names the users file")


if __name__ == "__main__":
    ballot_cluster.main(test, "security_acl", nodes=1)
