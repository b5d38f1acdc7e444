"""redis-py (Debian python3-redis) against a 3-node cluster, through the library's own API:
every string and keyspace command, expiry, transactions (pipeline(transaction=True) bank
transfers from 16 clients with the total conserved at every read, WATCH optimistic retry),
redis-py's Lock under contention from 16 threads (never two holders), and a TTL cache whose
keys disappear on time on every node."""

import threading
import time

import redis
from redis.exceptions import LockNotOwnedError, ResponseError, WatchError

from clients_util import check, main


def connect(cluster, i):
    return redis.Redis(host="127.0.0.1", port=cluster.client_ports[i], socket_timeout=10)


def strings_and_keyspace(r):
    check(r.set("s", "v") is True, "set")
    check(r.set("s", "w", nx=True) is None, "set nx on an existing key")
    check(r.set("s", "w", xx=True, get=True) == b"v", "set xx get")
    check(r.set("lk", "me", nx=True, px=30000) is True, "set nx px")
    check(29000 < r.pttl("lk") <= 30000, "pttl after px: %r" % r.pttl("lk"))
    check(r.set("lk", "x", keepttl=True) and r.ttl("lk") > 25, "set keepttl keeps the ttl")
    check(r.set("e", "1", ex=100) and 99 <= r.ttl("e") <= 100, "set ex / ttl")
    check(r.set("ea", "1", exat=int(time.time()) + 100) and r.ttl("ea") > 90, "set exat")
    check(r.set("pa", "1", pxat=int(time.time() * 1000) + 100000) and r.ttl("pa") > 90, "pxat")
    check(r.setnx("nx", "1") is True and r.setnx("nx", "2") is False, "setnx")
    check(r.setex("sx", 100, "v") and r.ttl("sx") == 100, "setex")
    check(r.psetex("px", 100000, "v") and r.pttl("px") > 99000, "psetex")
    check(r.getset("s", "new") == b"w", "getset")
    check(r.getdel("s") == b"new" and r.get("s") is None, "getdel")
    r.set("g", "v")
    check(r.getex("g", ex=50) == b"v" and r.ttl("g") == 50, "getex ex")
    check(r.getex("g", persist=True) == b"v" and r.ttl("g") == -1, "getex persist")
    check(r.expire("g", 100) is True and r.ttl("g") == 100, "expire")
    check(r.expire("g", 200, lt=True) is False and r.expire("g", 50, lt=True), "expire lt")
    check(r.expire("g", 10, gt=True) is False and r.expire("g", 80, gt=True), "expire gt")
    check(r.expire("g", 10, nx=True) is False and r.expire("g", 70, xx=True), "expire nx/xx")
    check(r.pexpire("g", 60000) and 59000 < r.pttl("g") <= 60000, "pexpire")
    at = int(time.time()) + 1000
    check(r.expireat("g", at) and abs(r.expiretime("g") - at) <= 1, "expireat / expiretime")
    check(r.pexpireat("g", at * 1000) and r.pexpiretime("g") == at * 1000, "pexpireat")
    check(r.persist("g") and r.ttl("g") == -1 and r.ttl("nosuch") == -2, "persist / ttl -2")
    check(r.incr("n") == 1 and r.incr("n", 10) == 11 and r.incrby("n", 5) == 16, "incr/incrby")
    check(r.decr("n") == 15 and r.decr("n", 5) == 10 and r.decrby("n", 4) == 6, "decr/decrby")
    check(r.incrbyfloat("f", 10.5) == 10.5 and r.incrbyfloat("f", 0.1) == 10.6, "incrbyfloat")
    try:
        r.incr("f")
        check(False, "incr of a float value")
    except ResponseError as e:
        check(str(e) == "value is not an integer or out of range", "incr error: %s" % e)
    check(r.mset({"m1": "a", "m2": "b"}) is True, "mset")
    check(r.mget("m1", "nosuch", "m2") == [b"a", None, b"b"], "mget")
    check(r.msetnx({"m1": "x", "m3": "y"}) is False and r.get("m3") is None, "msetnx")
    check(r.append("m1", "bc") == 3 and r.strlen("m1") == 3, "append / strlen")
    check(r.getrange("m1", 0, 1) == b"ab" and r.getrange("m1", -1, -1) == b"c", "getrange")
    check(r.setrange("m1", 1, "XY") == 3 and r.get("m1") == b"aXY", "setrange")
    check(r.exists("m1", "m2", "nosuch") == 2 and r.touch("m1", "nosuch") == 1, "exists/touch")
    check(r.type("m1") == b"string" and r.type("nosuch") == b"none", "type")
    check(r.rename("m1", "r1") is True and r.get("r1") == b"aXY", "rename")
    check(r.renamenx("r1", "m2") is False and r.renamenx("r1", "r2") is True, "renamenx")
    check(r.copy("r2", "c2") is True and r.copy("r2", "c2") is False, "copy")
    check(r.copy("m2", "c2", replace=True) is True and r.get("c2") == b"b", "copy replace")
    check(r.delete("c2", "nosuch") == 1 and r.unlink("r2", "nosuch") == 1, "delete / unlink")
    check(sorted(r.keys("m?")) == [b"m2"], "keys: %r" % r.keys("m?"))
    for i in range(300):
        r.set("scan:%d" % i, i)
    seen = set(r.scan_iter(match="scan:*", count=25))
    check(len(seen) == 300, "scan_iter saw %d of 300" % len(seen))
    check(len(set(r.scan_iter(match="scan:1*", _type="string"))) == 111, "scan type string")
    check(list(r.scan_iter(match="scan:*", _type="list")) == [], "scan type list")
    check(r.randomkey() is not None, "randomkey")
    check(r.dbsize() == len(r.keys("*")), "dbsize")
    check(r.ping() is True and r.echo("hi") == b"hi", "ping / echo")
    check(r.flushdb() is True and r.dbsize() == 0, "flushdb")
    check(r.command_count() > 60 and "mget" in r.command(), "COMMAND COUNT, COMMAND")
    try:
        r.lpush("l", "x")
        check(False, "lpush must be unknown")
    except ResponseError as e:
        check(str(e).startswith("unknown command 'LPUSH'"), "unknown command text: %s" % e)


def bank(cluster):
    accounts = ["acct:%d" % i for i in range(100)]
    r = connect(cluster, 1)
    r.mset({a: 1000 for a in accounts})
    stop = time.time() + 4.0
    errors = []
    done = [0]
    totals = []

    def transfer(worker):
        c = connect(cluster, 1 + worker % cluster.n)
        k = 0
        while time.time() < stop and k < 200:
            a = accounts[(worker * 7 + k * 13) % 100]
            b = accounts[(worker * 11 + k * 17 + 1) % 100]
            if a == b:
                k += 1
                continue
            amount = 1 + (k % 9)
            try:
                with c.pipeline(transaction=True) as p:
                    p.decrby(a, amount)
                    p.incrby(b, amount)
                    res = p.execute()
                if len(res) != 2:
                    errors.append("transfer result %r" % (res,))
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is the test's failure
                errors.append("worker %d: %r" % (worker, e))
                return
            k += 1

    def audit():
        c = connect(cluster, 2)
        while time.time() < stop:
            totals.append(sum(int(v) for v in c.mget(accounts)))

    threads = [threading.Thread(target=transfer, args=(w,)) for w in range(16)]
    threads.append(threading.Thread(target=audit))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "bank transfers failed: %s" % errors[:3])
    final = sum(int(v) for v in r.mget(accounts))
    check(final == 100000, "total after %d transfers is %d" % (done[0], final))
    bad = [t for t in totals if t != 100000]
    check(not bad, "a read saw half a transfer: %d of %d audits wrong, e.g. %r"
          % (len(bad), len(totals), bad[:3]))
    print("bank: %d transfers from 16 clients, %d audits, total conserved" % (done[0], len(totals)))


def watch_retry(cluster):
    r = connect(cluster, 1)
    r.set("wcounter", 0)
    retries = [0]
    errors = []

    def worker(i):
        c = connect(cluster, 1 + i % cluster.n)

        def incr(pipe):
            v = int(pipe.get("wcounter"))
            pipe.multi()
            pipe.set("wcounter", v + 1)

        for _ in range(10):
            while True:
                try:
                    with c.pipeline() as p:
                        p.watch("wcounter")
                        incr(p)
                        p.execute()
                    break
                except WatchError:
                    retries[0] += 1
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "WATCH workers failed: %s" % errors[:3])
    check(int(r.get("wcounter")) == 160, "WATCH counter %r, expected 160" % r.get("wcounter"))
    check(retries[0] > 0, "no WatchError under contention")
    # transaction() is redis-py's own retry loop.
    r.transaction(lambda p: p.multi() or p.incr("wcounter"), "wcounter")
    check(int(r.get("wcounter")) == 161, "Redis.transaction")
    print("watch: 160 increments from 16 clients, %d retries" % retries[0])


def locks(cluster):
    holders = [0]
    max_holders = [0]
    acquired = [0]
    guard = threading.Lock()
    errors = []

    def worker(i):
        c = connect(cluster, 1 + i % cluster.n)
        for _ in range(4):
            lock = c.lock("biglock", timeout=5, sleep=0.005, blocking_timeout=30)
            if not lock.acquire():
                errors.append("worker %d: not acquired" % i)
                return
            with guard:
                holders[0] += 1
                max_holders[0] = max(max_holders[0], holders[0])
                acquired[0] += 1
            time.sleep(0.005)
            with guard:
                holders[0] -= 1
            try:
                lock.release()
            except Exception as e:  # noqa: BLE001
                errors.append("worker %d release: %r" % (i, e))
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "lock workers: %s" % errors[:3])
    check(max_holders[0] == 1 and acquired[0] == 64,
          "lock holders at once %d, acquisitions %d" % (max_holders[0], acquired[0]))
    # A holder that never releases: the lock expires on time and a release is refused.
    r = connect(cluster, 2)
    lost = r.lock("shortlock", timeout=0.3)
    check(lost.acquire(blocking=False), "short lock acquired")
    other = connect(cluster, 3).lock("shortlock", timeout=5)
    check(not other.acquire(blocking=False), "held lock refused to another")
    started = time.time()
    check(other.acquire(blocking_timeout=3), "lock free after its timeout")
    waited = time.time() - started
    check(waited < 1.5, "lock expired late: %.2fs" % waited)
    try:
        lost.release()
        check(False, "release of an expired lock")
    except LockNotOwnedError:
        pass
    check(other.extend(2) and other.reacquire() and other.owned(), "extend / reacquire")
    other.release()
    print("locks: 64 acquisitions from 16 threads, never two holders; expiry after %.2fs"
          % waited)


def ttl_cache(cluster):
    leader = cluster.leader()
    w = connect(cluster, leader)
    readers = {i: connect(cluster, i) for i in range(1, cluster.n + 1)}
    keys = ["cache:%d" % i for i in range(50)]
    base = w.dbsize()
    with w.pipeline(transaction=False) as p:
        for k in keys:
            p.set(k, "v", px=600)
        p.execute()
    set_at = time.time()
    cluster.wait_applied(list(range(1, cluster.n + 1)))
    for i, c in readers.items():
        if time.time() - set_at < 0.4:
            check(c.get(keys[0]) == b"v", "node %d: cached key present before its time" % i)
    while time.time() - set_at < 0.65:
        time.sleep(0.02)
    for i, c in readers.items():
        got = c.mget(keys)
        check(all(v is None for v in got), "node %d still serves expired keys: %r" % (i, got[:3]))
        check(c.exists(*keys) == 0 and c.ttl(keys[0]) == -2, "node %d: exists/ttl" % i)
    # Active expiry reclaims them on every node within a couple of seconds.
    deadline = time.time() + 5
    while time.time() < deadline:
        if all(c.dbsize() == base for c in readers.values()):
            break
        time.sleep(0.05)
    sizes = {i: c.dbsize() for i, c in readers.items()}
    check(all(v == base for v in sizes.values()), "expired keys not deleted: %r, expected %d"
          % (sizes, base))
    print("ttl cache: 50 keys gone on 3 nodes at 600 ms, deleted after %.2fs"
          % (time.time() - set_at))


def test(cluster):
    cluster.start_all()
    cluster.leader()
    r = connect(cluster, 2)
    r.flushdb()
    strings_and_keyspace(r)
    bank(cluster)
    watch_retry(cluster)
    locks(cluster)
    ttl_cache(cluster)


if __name__ == "__main__":
    main(test, "clients_redis_py")
