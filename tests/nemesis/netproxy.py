"""A userspace TCP proxy for every directed peer link of a ballotd cluster, so a test can
partition, slow down, blackhole and reset links between nodes on one machine without root.

Node i's --peers entry for node j points at the proxy port of link (i, j), which forwards to
node j's real peer port. ballotd dials every peer and may also send on the peer's dial
(src/server/peers.c), so bytes that go up a connection of link (i, j) travel i -> j and
bytes that come back travel j -> i. Faults are set per direction (src -> dst) and apply to
every connection that carries that direction:

  pass                     forward at once
  blackhole                forward nothing, keep the connections open (TCP back pressure:
                           as a silent network partition looks to both ends); what was held
                           is delivered in order when the direction passes again
  delay MS JITTER          forward each chunk MS + uniform(0, JITTER) ms later, in order
  reset                    close every connection of the pair with RST and refuse new ones
                           while set (both directions: TCP cannot reset one)

Run as a process; it reads commands on standard input, one per line, and answers "ok" or
"error: ..." on standard output:

  listen SRC DST PORT TARGET_PORT   proxy 127.0.0.1:PORT -> 127.0.0.1:TARGET_PORT as (SRC, DST)
  set SRC DST MODE [MS JITTER]      the fault of direction SRC -> DST
  heal                              every direction passes again
  stats                             one line: connections, bytes forwarded, bytes held
  quit

Bounds: at most 64 connections per link; at most 4 MiB held per direction of a connection
(then the proxy stops reading it, which pushes back on the sender). Standard library only.
Only 127.0.0.1 is ever listened on or dialed."""

import collections
import os
import random
import selectors
import socket
import struct
import sys
import time

HOLD_MAX = 4 << 20
CONNS_PER_LINK_MAX = 64
CHUNK = 65536


class Direction:
    """Bytes flowing from one socket to the other, with their release times."""

    def __init__(self, src, dst):
        self.src = src  # (a, b): the node pair this direction carries a -> b
        self.dst = dst
        self.queue = collections.deque()  # (release_time, bytes)
        self.held = 0
        self.last_release = 0.0
        self.eof = False


class Conn:
    def __init__(self, proxy, link, down, up):
        self.proxy = proxy
        self.link = link  # (i, j): down is node i's dial, up goes to node j
        self.down = down
        self.up = up
        self.up_connected = False
        # up direction: i -> j; down direction: j -> i
        self.dirs = {down: Direction((link[0], link[1]), up),
                     up: Direction((link[1], link[0]), down)}
        self.closed = False


class Proxy:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.listeners = {}  # socket -> (link, target_port)
        self.conns = set()
        self.mode = {}  # (src, dst) -> ("pass",) | ("blackhole",) | ("delay", ms, jit) | ("reset",)
        self.rng = random.Random(int.from_bytes(os.urandom(8), "little"))
        self.forwarded = 0
        self.in_buf = b""
        self.running = True

    # ---- faults
    def mode_of(self, pair):
        return self.mode.get(pair, ("pass",))

    def pair_reset(self, a, b):
        return self.mode_of((a, b))[0] == "reset" or self.mode_of((b, a))[0] == "reset"

    def set_mode(self, src, dst, mode):
        self.mode[(src, dst)] = mode
        if mode[0] == "reset":
            for c in list(self.conns):
                if set(c.link) == {src, dst}:
                    self.close_conn(c, rst=True)
        self.refresh_all()

    # ---- sockets
    def listen(self, a, b, port, target):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.setblocking(False)
        self.listeners[s] = ((a, b), target)
        self.sel.register(s, selectors.EVENT_READ, ("listen", s))

    def accept(self, ls):
        link, target = self.listeners[ls]
        try:
            down, _ = ls.accept()
        except OSError:
            return
        count = sum(1 for c in self.conns if c.link == link)
        if self.pair_reset(*link) or count >= CONNS_PER_LINK_MAX:
            down.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            down.close()
            return
        down.setblocking(False)
        down.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setblocking(False)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            up.connect(("127.0.0.1", target))
        except BlockingIOError:
            pass
        except OSError:
            down.close()
            up.close()
            return
        c = Conn(self, link, down, up)
        self.conns.add(c)
        self.refresh(c)

    def close_conn(self, c, rst=False):
        if c.closed:
            return
        c.closed = True
        self.conns.discard(c)
        for s in (c.down, c.up):
            self.set_events(s, 0, c)
            if rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            s.close()

    def refresh(self, c):
        """Which events each socket of c waits for."""
        if c.closed:
            return
        now = time.monotonic()
        for s in (c.down, c.up):
            other = c.up if s is c.down else c.down
            ev = 0
            if s is c.up and not c.up_connected:
                ev = selectors.EVENT_WRITE
            else:
                d = c.dirs[s]  # bytes read from s
                m = self.mode_of(d.src)
                if m[0] != "blackhole" and d.held < HOLD_MAX and not d.eof and c.up_connected:
                    ev |= selectors.EVENT_READ
                # bytes to write to s come from the other socket's direction
                od = c.dirs[other]
                if od.queue and od.queue[0][0] <= now and self.mode_of(od.src)[0] != "blackhole":
                    ev |= selectors.EVENT_WRITE
            self.set_events(s, ev, c)

    def set_events(self, s, ev, c):
        """selectors refuses an empty event set: such a socket is unregistered instead."""
        try:
            key = self.sel.get_key(s)
        except (KeyError, ValueError):
            key = None
        if ev == 0:
            if key is not None:
                self.sel.unregister(s)
        elif key is None:
            self.sel.register(s, ev, ("conn", c))
        elif key.events != ev:
            self.sel.modify(s, ev, ("conn", c))

    def refresh_all(self):
        for c in list(self.conns):
            self.refresh(c)

    def next_release(self):
        """Seconds until the next delayed chunk is due (None: nothing waits)."""
        best = None
        for c in self.conns:
            for d in c.dirs.values():
                if d.queue and self.mode_of(d.src)[0] != "blackhole":
                    t = d.queue[0][0]
                    best = t if best is None or t < best else best
        if best is None:
            return None
        return max(0.0, best - time.monotonic())

    def on_conn(self, c, s, mask):
        if c.closed:
            return
        if s is c.up and not c.up_connected:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                self.close_conn(c)
                return
            c.up_connected = True
            self.refresh(c)
            return
        if mask & selectors.EVENT_READ:
            d = c.dirs[s]
            try:
                data = s.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self.close_conn(c)
                return
            if data == b"":
                d.eof = True
                if not d.queue:
                    self.close_conn(c)
                    return
            elif data:
                m = self.mode_of(d.src)
                now = time.monotonic()
                when = now
                if m[0] == "delay":
                    when = now + (m[1] + self.rng.uniform(0, m[2])) / 1000.0
                when = max(when, d.last_release)
                d.last_release = when
                d.queue.append((when, data))
                d.held += len(data)
        if mask & selectors.EVENT_WRITE:
            other = c.up if s is c.down else c.down
            od = c.dirs[other]
            now = time.monotonic()
            while od.queue and od.queue[0][0] <= now:
                when, data = od.queue[0]
                try:
                    n = s.send(data)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.close_conn(c)
                    return
                self.forwarded += n
                od.held -= n
                if n < len(data):
                    od.queue[0] = (when, data[n:])
                    break
                od.queue.popleft()
            if od.eof and not od.queue:
                self.close_conn(c)
                return
        self.refresh(c)

    # ---- control
    def command(self, line):
        w = line.split()
        if not w:
            return "ok"
        try:
            if w[0] == "listen":
                self.listen(int(w[1]), int(w[2]), int(w[3]), int(w[4]))
            elif w[0] == "set":
                a, b, kind = int(w[1]), int(w[2]), w[3]
                if kind == "delay":
                    self.set_mode(a, b, ("delay", float(w[4]), float(w[5])))
                elif kind in ("pass", "blackhole", "reset"):
                    self.set_mode(a, b, (kind,))
                else:
                    return "error: unknown mode %s" % kind
            elif w[0] == "heal":
                self.mode.clear()
                self.refresh_all()
            elif w[0] == "stats":
                held = sum(d.held for c in self.conns for d in c.dirs.values())
                return "ok conns=%d forwarded=%d held=%d" % (len(self.conns), self.forwarded, held)
            elif w[0] == "quit":
                self.running = False
            else:
                return "error: unknown command %s" % w[0]
        except (IndexError, ValueError, OSError) as e:
            return "error: %s" % e
        return "ok"

    def on_stdin(self):
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            self.running = False
            return
        self.in_buf += data
        while b"\n" in self.in_buf:
            line, self.in_buf = self.in_buf.split(b"\n", 1)
            reply = self.command(line.decode())
            sys.stdout.write(reply + "\n")
            sys.stdout.flush()

    def run(self):
        os.set_blocking(sys.stdin.fileno(), False)
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, ("stdin", None))
        while self.running:
            timeout = self.next_release()
            # Delayed chunks that became due need their sockets' write interest refreshed.
            for key, mask in self.sel.select(timeout if timeout is not None else 1.0):
                kind, obj = key.data
                if kind == "stdin":
                    self.on_stdin()
                elif kind == "listen":
                    self.accept(obj)
                else:
                    self.on_conn(obj, key.fileobj, mask)
            if timeout is not None:
                self.refresh_all()
        for c in list(self.conns):
            self.close_conn(c)


if __name__ == "__main__":
    Proxy().run()
