"""Transactions and expiry on a 3-node cluster (docs/performance.md "Transactions and
expiry"): redis-benchmark SET against SET ... EX at 64 clients, MULTI/EXEC of 10 SETs from
64 redis-py clients, and the state machine's memory per key with and without a deadline
(INFO kv_memory_bytes). Usage: /usr/bin/python3 bench/server/txn_bench.py --build build"""

import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "server"))

import redis  # noqa: E402

from ballot_cluster import info, main  # noqa: E402

N = int(os.environ.get("TXN_BENCH_N", "40000"))


def bench(port, *args):
    cmd = ["redis-benchmark", "-p", str(port), "-c", "64", "-n", str(N), "-r", "1000000", "-q"]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300).stdout
    m = re.findall(r"([\d.]+) requests per second", out)
    return float(m[-1]) if m else 0.0


def multi_exec(port, seconds=5.0):
    stop = time.time() + seconds
    done = [0]
    lock = threading.Lock()

    def worker(w):
        r = redis.Redis(port=port)
        k = 0
        while time.time() < stop:
            with r.pipeline(transaction=True) as p:
                for j in range(10):
                    p.set("tx:%d:%d" % (w, (k * 10 + j) % 1000), "v")
                p.execute()
            k += 1
        with lock:
            done[0] += k

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(64)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.time() - started)


def memory_per_key(port, ttl):
    r = redis.Redis(port=port)
    r.flushall()
    before = int(info(port)["kv_memory_bytes"])
    with r.pipeline(transaction=False) as p:
        for i in range(100000):
            if ttl:
                p.set("mem:%08d" % i, "0123456789", ex=3600)
            else:
                p.set("mem:%08d" % i, "0123456789")
            if i % 1000 == 999:
                p.execute()
        p.execute()
    after = int(info(port)["kv_memory_bytes"])
    return (after - before) / 100000.0


def run(cluster):
    cluster.start_all()
    leader = cluster.leader()
    port = cluster.client_ports[leader]
    load = os.getloadavg()[0]
    plain = bench(port, "-t", "set")
    ex = bench(port, "SET", "key:__rand_int__", "xxx", "EX", "100")
    tx = multi_exec(port)
    mem_plain = memory_per_key(port, False)
    mem_ttl = memory_per_key(port, True)
    print("load average at start: %.1f" % load)
    print("SET, 64 clients:                      %8.0f req/s" % plain)
    print("SET key xxx EX 100, 64 clients:       %8.0f req/s (%.0f%% of SET)"
          % (ex, 100.0 * ex / plain if plain else 0))
    print("MULTI + 10 SET + EXEC, 64 clients:    %8.0f transactions/s (%.0f SETs/s)"
          % (tx, tx * 10))
    print("memory per key, 10-byte value, 12-byte key: %.1f B without a deadline, %.1f B with"
          % (mem_plain, mem_ttl))


if __name__ == "__main__":
    main(run, "txn_bench")
