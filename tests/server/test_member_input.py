"""BALLOT.MEMBER refuses bad input with a clear error and changes nothing: unknown ids,
ids out of range, a promote of a missing learner, addresses too long or taken, a second
change while one is in flight, changes sent to a follower, malformed commands."""

import time

from ballot_cluster import RespError, check, info, main


def listing(c):
    rows = c.cmd("BALLOT.MEMBER", "LIST")
    check(isinstance(rows, list), "LIST: %r" % rows)
    return [dict(f.split("=", 1) for f in r.decode().split(" ")) for r in rows]


def refused(c, prefix, *args):
    r = c.cmd("BALLOT.MEMBER", *args)
    check(isinstance(r, RespError) and str(r).startswith(prefix),
          "BALLOT.MEMBER %r: expected %s..., got %r" % (args, prefix, r))
    return str(r)


def test(cluster):
    cluster.start_all()
    leader = cluster.leader()
    follower = next(i for i in range(1, cluster.n + 1) if i != leader)
    c = cluster.client(leader)
    before = listing(c)
    check([m["id"] for m in before] == ["1", "2", "3"] and
          all(m["role"] == "voter" and m["epoch"] == "0" for m in before),
          "founding membership: %r" % before)
    check(before[0]["addr"] == "127.0.0.1:%d" % cluster.peer_ports[1], "addresses: %r" % before)

    refused(c, "ERR n9 is not a member", "REMOVE", "9")
    refused(c, "ERR n9 is not a member", "PROMOTE", "9")
    refused(c, "ERR n2 is already a voter", "PROMOTE", "2")
    for bad in ("0", "16", "x", "-1", "1.5", "", "007"):
        refused(c, "ERR member id must be 1..15", "ADD", bad, "127.0.0.1:1")
    refused(c, "ERR n2 is already a member", "ADD", "2", "127.0.0.1:1")
    refused(c, "ERR address must be HOST:PORT of 1..255 bytes", "ADD", "4", "h" * 300 + ":1")
    refused(c, "ERR address must be HOST:PORT", "ADD", "4", "")
    refused(c, "ERR address", "ADD", "4", "no-port")
    refused(c, "ERR n1 already has the address", "ADD", "4",
            "127.0.0.1:%d" % cluster.peer_ports[1])
    refused(c, "ERR usage", "ADD", "4")
    refused(c, "ERR usage", "FROB")
    refused(c, "ERR usage", "LIST", "extra")
    f = cluster.client(follower)
    refused(f, "NOTLEADER", "ADD", "4", "127.0.0.1:1")
    refused(f, "NOTLEADER", "REMOVE", "3")
    f.close()
    check(listing(c) == before, "refusals changed nothing")

    # Two voter changes at once: the second waits for nothing, it is refused while the
    # first has not taken effect (one change at a time).
    c.send_raw(c.encode("BALLOT.MEMBER", "ADD", "4", "127.0.0.1:1") +
               c.encode("BALLOT.MEMBER", "REMOVE", "3"))
    first, second = c.read(), c.read()
    check(first == "OK", "ADD 4: %r" % first)
    check(isinstance(second, RespError) and str(second).startswith("BUSY"),
          "a second change in flight is refused: %r" % second)
    after = listing(c)
    check([(m["id"], m["role"]) for m in after] ==
          [("1", "voter"), ("2", "voter"), ("3", "voter"), ("4", "learner")] and
          after[0]["epoch"] == "1", "exactly the first change: %r" % after)
    # The learner at a dead address never catches up: promoting it is refused once the
    # leader's log is more than 1024 slots (CONFIG_CATCHUP_SLOTS) ahead of what it has.
    deadline = time.time() + 20
    while int(info(cluster.client_ports[leader])["commit_index"]) <= 1100:
        check(time.time() < deadline, "the log did not move past slot 1100")
        c.send_raw(b"".join(c.encode("SET", "fill%d" % k, "v") for k in range(100)))
        for _ in range(100):
            check(c.read() == "OK", "SET")
    r = None
    for k in range(200):
        check(c.cmd("SET", "k%d" % k, "v") == "OK", "SET")
        r = c.cmd("BALLOT.MEMBER", "PROMOTE", "4")
        if not (isinstance(r, RespError) and str(r).startswith("BUSY")):
            break
        time.sleep(0.05)
    check(isinstance(r, RespError) and str(r).startswith("TRYAGAIN n4 is behind"),
          "promote of a learner that is behind: %r" % r)
    check(listing(c)[3]["role"] == "learner", "still a learner")
    c.close()


if __name__ == "__main__":
    main(test, "member_input", nodes=3)
