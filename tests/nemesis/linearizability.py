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

import math

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
    __slots__ = ("op", "is_call", "match", "prev", "next", "time", "id")

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
    # Calls before returns at equal times: operations that touch are concurrent.
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
    cache = set()
    calls = []
    entry = head.next
    steps = 0
    best_depth = -1
    stuck = None
    while head.next is not None:
        steps += 1
        if steps > step_budget:
            return Result(True, len(ops), steps, gave_up=True)
        if entry.is_call:
            op = entry.op
            ok, new_state = step(state, op["kind"], op["arg"],
                                 op["result"] if op["known"] else UNKNOWN)
            if ok:
                if entry.id >= 0:
                    new_lin, new_info = linearized | (1 << entry.id), info_done
                else:
                    new_lin, new_info = linearized, info_done | (1 << (-entry.id - 1))
                low = (~new_lin & (new_lin + 1)).bit_length() - 1
                key = (low, new_lin >> low, new_info, new_state)
                if key not in cache:
                    cache.add(key)
                    calls.append((entry, state))
                    state = new_state
                    linearized = new_lin
                    info_done = new_info
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if len(calls) > best_depth:
                best_depth = len(calls)
                stuck = (entry.op, state)
            if not calls:
                return Result(False, len(ops), steps, stuck=stuck, best=best_depth)
            entry, state = calls.pop()
            if entry.id >= 0:
                linearized &= ~(1 << entry.id)
            else:
                info_done &= ~(1 << (-entry.id - 1))
            unlift(entry)
            entry = entry.next
    return Result(True, len(ops), steps)


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
