"""Unit tests of the per-key linearizability checker (tests/nemesis/linearizability.py):
histories that must pass, and ones that must fail (a stale read, a lost write, a CAS that
saw a value never written), with indeterminate operations on both sides."""

import sys

import linearizability as lin


def op(kind, arg, result, t0, t1=None, known=True):
    return {"kind": kind, "arg": arg, "result": result, "t0": t0, "t1": t1, "known": known}


CASES = [
    ("sequential", True, [op("set", b"1", "OK", 0, 1), op("get", None, b"1", 2, 3)]),
    ("stale read", False, [op("set", b"1", "OK", 0, 1), op("set", b"2", "OK", 2, 3),
                           op("get", None, b"1", 4, 5)]),
    ("concurrent read either", True, [op("set", b"1", "OK", 0, 1), op("set", b"2", "OK", 2, 6),
                                      op("get", None, b"1", 3, 4), op("get", None, b"2", 5, 7)]),
    ("read goes back", False, [op("set", b"1", "OK", 0, 1), op("set", b"2", "OK", 2, 9),
                               op("get", None, b"2", 3, 4), op("get", None, b"1", 5, 6)]),
    ("info write may have happened", True, [op("set", b"7", None, 0, known=False),
                                            op("get", None, b"7", 5, 6)]),
    ("info write may not have happened", True, [op("set", b"7", None, 0, known=False),
                                                op("get", None, None, 5, 6)]),
    ("info write not before invoke", False, [op("get", None, b"7", 0, 1),
                                             op("set", b"7", None, 2, known=False)]),
    ("info write happens once", False, [op("set", b"1", "OK", 0, 1),
                                        op("set", b"7", None, 2, known=False),
                                        op("get", None, b"7", 3, 4), op("set", b"8", "OK", 5, 6),
                                        op("get", None, b"8", 7, 8),
                                        op("get", None, b"7", 9, 10)]),
    ("lost write", False, [op("set", b"1", "OK", 0, 1), op("get", None, None, 2, 3)]),
    ("incr", True, [op("incr", None, 1, 0, 1), op("incr", None, None, 2, known=False),
                    op("incr", None, 3, 3, 4), op("get", None, b"3", 5, 6)]),
    ("incr twice counted once", False, [op("incr", None, 1, 0, 1), op("incr", None, 2, 2, 3),
                                        op("incr", None, 2, 4, 5)]),
    ("incr on text", True, [op("set", b"x", "OK", 0, 1), op("incr", None, "ERR", 2, 3)]),
    ("cas", True, [op("set", b"1", "OK", 0, 1), op("cas", (b"1", b"2"), 1, 2, 3),
                   op("cas", (b"1", b"3"), 0, 4, 5), op("get", None, b"2", 6, 7)]),
    ("cas saw a value never there", False, [op("set", b"1", "OK", 0, 1),
                                            op("cas", (b"5", b"2"), 1, 2, 3)]),
    ("del", True, [op("set", b"1", "OK", 0, 1), op("del", None, 1, 2, 3),
                   op("del", None, 0, 4, 5), op("get", None, None, 6, 7)]),
    ("del of nothing", False, [op("del", None, 1, 0, 1)]),
]


def main():
    failed = 0
    for name, want, ops in CASES:
        got = lin.check(ops)
        if got.ok != want or got.gave_up:
            failed += 1
            print("FAIL %s: expected %s, got %s" % (name, want, got.ok))
    # A long, valid, concurrent history with many indeterminate writes stays fast.
    ops = []
    t = 0.0
    for i in range(3000):
        known = i % 50 != 7
        ops.append(op("set", b"%d" % i, "OK" if known else None, t, t + 1.5, known))
        ops.append(op("get", None, b"%d" % i, t + 1.6, t + 2.0))
        t += 2.0
    r = lin.check(ops)
    if not r.ok or r.gave_up:
        failed += 1
        print("FAIL long history: ok=%s gave_up=%s steps=%d" % (r.ok, r.gave_up, r.steps))
    # The same history with one read that returns the value before the last write.
    ops[4001]["result"] = b"%d" % 1999
    r = lin.check(ops)
    if r.ok or r.gave_up:
        failed += 1
        print("FAIL long history with a stale read passed")
    print("linearizability checker: %d cases, %d failed" % (len(CASES) + 2, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
