"""A linearizability checker for one key's history (Wing & Gong's search with Lowe's memo,
as Porcupine does it), over a model of one Redis key that GET, SET, CAS, INCR and DEL act
on. Keys are independent, so a history is checked key by key (docs/reliability.md).

An operation is a dict: kind, arg, result, known, t0 (invoked), t1 (completed). It is known
when the client got a definite answer; otherwise ("info": the request timed out or its
connection broke) it may or may not have taken effect, and its result is ignored. An info operation completes
at +infinity: it may be placed anywhere after its invocation, including after everything
else, which is the same as never having happened.

State of a key: None (absent) or bytes. Results:
  get -> bytes or None          set -> "OK"
  cas (expected, new) -> 1 | 0  incr -> int, or "ERR" when the value is not an integer
  del -> 1 | 0
"""

import bisect
import collections
import json
import math
import sys

UNKNOWN = object()  # the result of an indeterminate ("info") operation


def _as_int(v):
    if v is None:
        return 0
    try:
        s = v.decode()
    except UnicodeDecodeError:
        return None
    if not s or s != s.strip():
        return None
    try:
        n = int(s)
    except ValueError:
        return None
    if str(n) != s or not (-(1 << 63) <= n < (1 << 63) - 1):
        return None
    return n


def step(state, kind, arg, result):
    """(ok, new_state): whether `result` may be the answer of (kind, arg) on `state`, and the
    state after it. result UNKNOWN: any answer is possible."""
    unknown = result is UNKNOWN
    if kind == "get":
        return (unknown or result == state), state
    if kind == "set":
        return True, arg
    if kind == "del":
        after = None
        if unknown:
            return True, after
        return result == (0 if state is None else 1), after
    if kind == "cas":
        expected, new = arg
        swapped = state == expected
        if unknown:
            return True, (new if swapped else state)
        if swapped:
            return result == 1, new
        return result == 0, state
    if kind == "incr":
        n = _as_int(state)
        if n is None:
            return (unknown or result == "ERR"), state
        after = str(n + 1).encode()
        return (unknown or result == n + 1), after
    raise ValueError("unknown operation %r" % kind)


class _Entry:
    __slots__ = ("op", "is_call", "match", "prev", "next", "time", "id", "pos")

    def __init__(self, op, is_call, t, ident):
        self.op = op
        self.is_call = is_call
        self.match = None
        self.prev = None
        self.next = None
        self.time = t
        self.id = ident


class Result:
    def __init__(self, ok, ops, steps, gave_up=False, stuck=None, best=None):
        self.ok = ok
        self.ops = ops
        self.steps = steps
        self.gave_up = gave_up
        self.stuck = stuck  # the operation whose completion no linearization could pass
        self.best = best  # how many operations the longest linearization found holds


def check(ops, initial=None, step_budget=3_000_000):
    """ops: list of dicts with keys kind, arg, result, known (bool), t0, t1 (t1 ignored when
    not known). Returns a Result; ok is True when a linearization exists."""
    # Known operations get ids in order of invocation and info ones bits of their own, so
    # the memo can store a linearized set as (first id not yet linearized, the bits above
    # it, the info bits): small, as the search mostly linearizes in order and info ones may
    # stay out.
    known = sorted((op for op in ops if op["known"]), key=lambda o: o["t0"])
    info = [op for op in ops if not op["known"]]
    ops = known + info
    entries = []
    for i, op in enumerate(ops):
        # ids: 0.. for known operations, -1, -2, .. for info ones (kept in their own bits)
        ident = i if op["known"] else -(i - len(known) + 1)
        call = _Entry(op, True, op["t0"], ident)
        ret = _Entry(op, False, op["t1"] if op["known"] else math.inf, ident)
        call.match = ret
        entries.append(call)
        entries.append(ret)
    # Calls before returns at equal times: operations that touch are concurrent. Info
    # operations stay out of the list: they are candidates from their call on, forever.
    info_calls = sorted((e for e in entries if e.id < 0 and e.is_call), key=lambda e: e.time)
    for pos, e in enumerate(info_calls):
        e.pos = pos
    entries = [e for e in entries if e.id >= 0]
    entries.sort(key=lambda e: (e.time, 0 if e.is_call else 1))
    head = _Entry(None, False, -math.inf, -1)
    prev = head
    for e in entries:
        prev.next = e
        e.prev = prev
        prev = e

    def lift(e):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev
        m = e.match
        m.prev.next = m.next
        if m.next is not None:
            m.next.prev = m.prev

    def unlift(e):
        m = e.match
        m.prev.next = m
        if m.next is not None:
            m.next.prev = m
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e

    state = initial
    linearized = 0  # known operations linearized (bit id)
    info_done = 0  # info operations linearized (bit -id - 1)
    all_known = (1 << len(known)) - 1
    cache = set()
    calls = []
    steps = 0
    best_depth = -1
    stuck = None
    # Candidates at each point are the calls before the first pending return. Known ones are
    # tried first, in list order; info ones ("deferred") only when no known one fits, since
    # an info operation is needed only to explain what some known one saw. The order changes
    # the speed only: every candidate is still tried before backtracking.
    entry = head.next
    deferred = []
    di = 0
    if not known:
        return Result(True, len(ops), 0)
    scanning = True
    stop_at = None

    def info_candidates(cutoff, after=None):
        """Info calls not yet linearized and invoked by `cutoff`, in order (those after
        `after` only). Of the INCRs (and of the DELs) only the earliest pending one: they
        have the same effect and stay candidates forever, so which one is placed first does
        not matter, and trying every one would multiply the search by their subsets."""
        out = []
        seen_kind = set()
        for p in pending:
            e = info_calls[p]
            if e.time > cutoff:
                break
            kind = e.op["kind"]
            if kind in ("incr", "del"):
                if kind in seen_kind:
                    continue
                seen_kind.add(kind)
            out.append(e)
        if after is not None:
            out = [e for e in out if e.pos > after.pos]
        return out

    pending = list(range(len(info_calls)))  # positions of info calls not linearized

    def first_return():
        e = head.next
        while e is not None and e.is_call:
            e = e.next
        return e

    while linearized != all_known:
        steps += 1
        if steps > step_budget:
            return Result(True, len(ops), steps, gave_up=True)
        if scanning:
            if not entry.is_call:
                stop_at = entry
                scanning = False
                deferred = info_candidates(entry.time)
                di = 0
                continue
            candidate = entry
            entry = entry.next
        elif di < len(deferred):
            candidate = deferred[di]
            di += 1
        else:
            if len(calls) > best_depth:
                best_depth = len(calls)
                stuck = (stop_at.op, state)
            if not calls:
                return Result(False, len(ops), steps, stuck=stuck, best=best_depth)
            e, state = calls.pop()
            if e.id >= 0:
                linearized &= ~(1 << e.id)
            else:
                info_done &= ~(1 << (-e.id - 1))
                bisect.insort(pending, e.pos)
            if e.id >= 0:
                unlift(e)
                entry = e.next
                scanning = True
            else:
                stop_at = first_return()
                deferred = info_candidates(stop_at.time, after=e)
                di = 0
                scanning = False
            continue
        op = candidate.op
        ok, new_state = step(state, op["kind"], op["arg"],
                             op["result"] if op["known"] else UNKNOWN)
        if not ok:
            continue
        if candidate.id >= 0:
            new_lin, new_info = linearized | (1 << candidate.id), info_done
        else:
            new_lin, new_info = linearized, info_done | (1 << (-candidate.id - 1))
        low = (~new_lin & (new_lin + 1)).bit_length() - 1
        key = (low, new_lin >> low, new_info, new_state)
        if key in cache:
            continue
        cache.add(key)
        calls.append((candidate, state))
        state = new_state
        linearized = new_lin
        info_done = new_info
        if candidate.id >= 0:
            lift(candidate)
        else:
            pending.pop(bisect.bisect_left(pending, candidate.pos))
        entry = head.next
        scanning = True
    return Result(True, len(ops), steps)


def prune_unobserved(ops):
    """The operations without the info SETs and CASes whose written value no known
    operation saw (as a GET result, a CAS's expected value, or an INCR result within 1000
    above it). Values are unique per write, so in practice these never matter; and since
    an info operation may not have happened, a history that passes without them passes
    with them. A failure is checked again on the whole history."""
    seen = set()
    incr = []
    for op in ops:
        if not op["known"]:
            continue
        if op["kind"] == "get" and op["result"] is not None:
            seen.add(op["result"])
        elif op["kind"] == "cas":
            seen.add(op["arg"][0])
        elif op["kind"] == "incr" and isinstance(op["result"], int):
            incr.append(op["result"])
    incr.sort()

    def observed(v):
        if v in seen:
            return True
        n = _as_int(v)
        if n is None:
            return False
        i = bisect.bisect_right(incr, n)
        return i < len(incr) and incr[i] < n + 1000

    out = []
    for op in ops:
        if not op["known"] and op["kind"] in ("set", "cas"):
            v = op["arg"] if op["kind"] == "set" else op["arg"][1]
            if not observed(v):
                continue
        out.append(op)
    return out


def describe(op):
    arg = op["arg"]
    if op["kind"] == "cas":
        arg = "%s->%s" % (_show(arg[0]), _show(arg[1]))
    elif arg is not None:
        arg = _show(arg)
    res = _show(op["result"]) if op["known"] else "?"
    return "%s(%s)=%s" % (op["kind"], arg if arg is not None else "", res)


def _show(v):
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return repr(v) if v is None else str(v)


def _enc(v):
    if isinstance(v, bytes):
        return {"b": v.decode("latin-1")}
    if isinstance(v, tuple):
        return {"t": [_enc(x) for x in v]}
    return v


def _dec(v):
    if isinstance(v, dict) and "b" in v:
        return v["b"].encode("latin-1")
    if isinstance(v, dict) and "t" in v:
        return tuple(_dec(x) for x in v["t"])
    return v


def save(path, ops):
    """Writes a history as JSON lines (bytes and tuples tagged)."""
    with open(path, "w") as f:
        for op in ops:
            f.write(json.dumps({k: _enc(v) for k, v in op.items()}) + "\n")


def load(path):
    with open(path) as f:
        return [{k: _dec(v) for k, v in json.loads(line).items()} for line in f if line.strip()]


def main(argv):
    """linearizability.py HISTORY.jsonl: checks a saved history key by key (exit 1 if not
    linearizable)."""
    if len(argv) != 1:
        print("usage: linearizability.py HISTORY.jsonl")
        return 2
    by_key = collections.defaultdict(list)
    for op in load(argv[0]):
        if op.get("status", "ok" if op["known"] else "info") != "fail":
            by_key[op.get("key", "")].append(op)
    bad = 0
    for key, kops in sorted(by_key.items()):
        r = check(prune_unobserved(kops))
        if not r.ok and not r.gave_up:
            r = check(kops)
        verdict = "gave up" if r.gave_up else ("linearizable" if r.ok else "NOT linearizable")
        print("%s: %d operations, %s" % (key, len(kops), verdict))
        if not r.ok or r.gave_up:
            bad += 1
            if r.stuck:
                print("  stuck at %s, invoked %.3f" % (describe(r.stuck[0]), r.stuck[0]["t0"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
