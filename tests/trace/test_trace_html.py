"""The timeline page (`ballot trace --html`, docs/debugging.md "The timeline page") in a real
browser: headless Chromium loads the page of the harness's worked example and of a
simulator violation (a planted bug), and the DOM it built must hold the lanes, generation
bands, promise and rejection arrows, carried-forward links and chosen slots that the trace
files imply, and the path of a command or a slot once the page's script has highlighted it.

Usage: test_trace_html.py BUILD_DIR [--screenshot PNG] (the PNG of docs/debugging.md is
made with --screenshot docs/trace-timeline.png). Prints SKIPPED and exits 77 when
Chromium is not installed."""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome")
# Headless, and unable to reach anything but loopback: no background services, every
# request through a proxy on a closed loopback port, no name resolution.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-extensions", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps",
                  "--no-pings", "--mute-audio", "--proxy-server=127.0.0.1:9",
                  "--host-resolver-rules=MAP * ~NOTFOUND"]


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attributes, classes), and the text of a few by id."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.text = {}
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a, set((a.get("class") or "").split())))
        if tag not in VOID:
            self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for ident in self.stack:
            if ident:
                self.text[ident] = self.text.get(ident, "") + data

    def find(self, cls=None, **attrs):
        out = []
        for tag, a, classes in self.elements:
            if cls is not None and cls not in classes:
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append((tag, a, classes))
        return out


def read_trace(paths):
    events = []
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    obj = json.loads(line)
                    if "ev" in obj:
                        events.append(obj)
    return events


def browser():
    for name in CHROMIUMS:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(chromium, profile, url):
    out = subprocess.run([chromium] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile,
                                                        "--dump-dom", url],
                         capture_output=True, timeout=120)
    check(out.returncode == 0, "chromium --dump-dom %s: %r" % (url, out.stderr[-500:]))
    dom = Dom()
    dom.feed(out.stdout.decode())
    check(dom.find(None, data_ready="1"), "%s: the page's script did not run" % url)
    return dom


def self_contained(page):
    with open(page) as f:
        text = f.read()
    # The only URL is the SVG namespace (a name, never fetched).
    urls = re.findall(r"(?:https?|ftp)://[^\s\"'<>)]+", text)
    check(set(urls) <= {"http://www.w3.org/2000/svg"}, "%s names URLs %r" % (page, set(urls)))
    for bad in ("<link", "@import", " src=", "<iframe", "fetch(", "XMLHttpRequest"):
        check(bad not in text, "%s holds %r: it must fetch nothing" % (page, bad))
    check(re.search(r"url\((?!#)", text) is None, "%s: url() other than #ids" % page)


def check_worked_example(dom, events):
    check(dom.find("lane") and len(dom.find("lane")) == 3, "3 lanes")
    ballots = sorted({e["b"] for e in events if "b" in e and e["ev"] != "recovered"})
    gens = {a["data-gen"]: a for _, a, _ in dom.find("gen")}
    check(sorted(gens) == ballots, "generation bands %r, trace ballots %r" % (sorted(gens),
                                                                              ballots))
    for b, a in gens.items():
        leader = b.split(".n")[1]
        check(a["data-leader"] == leader, "%s led by n%s: %r" % (b, leader, a))
        check(dom.find("leader-band", data_node=leader), "%s: a leader band on n%s" % (b, leader))
    # Every promise between two nodes is an arrow from the acceptor to the proposer.
    for e in events:
        if e["ev"] == "promise_sent" and e["peer"] != e["node"]:
            arrows = dom.find("promise", data_gen=e["b"], data_from=str(e["node"]),
                              data_to=str(e["peer"]))
            check(arrows, "no promise arrow n%d -> n%d in %s" % (e["node"], e["peer"], e["b"]))
        if e["ev"] == "reject_sent":
            arrows = dom.find("reject", data_gen=e["b"], data_from=str(e["node"]),
                              data_to=str(e["peer"]), data_beaten_by=e["ob"])
            check(arrows, "no rejection arrow for %r" % e)
        if e["ev"] == "carried_forward":
            links = dom.find("carry", data_gen=e["b"], data_from_gen=e["ob"],
                             data_s0=e["slots"].split("-")[0])
            check(links, "no carried-forward link for %r" % e)
        if e["ev"] == "chosen":
            check(dom.find("chosen", data_gen=e["b"], data_node=str(e["node"]),
                           data_s0=e["slots"].split("-")[0]), "no chosen mark for %r" % e)
    carried = [c for c in dom.find("carry") if c[0] == "g"]
    check(len(carried) == sum(1 for e in events if e["ev"] == "carried_forward"),
          "carried links %d" % len(carried))
    check(dom.find("lease", data_gen="r1.n1"), "r1.n1's leases drawn")


def check_followed(dom, label, gens):
    sel = [a for _, a, _ in dom.find(id="selection")]
    check(sel and sel[0].get("data-gens") == gens and int(sel[0].get("data-count", 0)) > 0,
          "%s: selection %r, want generations %r" % (label, sel, gens))
    hl = dom.find("hl")
    check(len(hl) >= int(sel[0]["data-count"]), "%s: highlighted %d" % (label, len(hl)))
    check(dom.find(None, id="path"), "%s: path group" % label)


def check_violation(dom, stdout):
    text = dom.text.get("text-view", "")
    shown = re.findall(r"== generation (r\d+\.n\d+)", text)
    gens = [a["data-gen"] for _, a, _ in dom.find("gen")]
    check(shown and shown == gens, "bands %r vs text view %r" % (gens, shown))
    check(len(dom.find("lane")) == 3, "3 lanes")
    rejects = [r for r in dom.find("reject") if r[0] == "g"]
    check(rejects and all(a.get("data-beaten-by", "").startswith("r") for _, a, _ in rejects),
          "rejection arrows name the beating ballot: %d" % len(rejects))
    marks = dom.find("mark")
    check(marks, "the simulator's notes (crashes, restarts, partitions) are marked")
    check(dom.find("crash") or dom.find("restart"), "crash or restart marks")
    check(dom.find("chosen"), "chosen slots")
    check("agreement" in stdout and "timeline page:" in stdout, "violation output %r" %
          stdout[-300:])


def main():
    argv = sys.argv[1:]
    check(argv, "usage: test_trace_html.py BUILD_DIR [--screenshot PNG]")
    build = argv[0]
    screenshot = argv[argv.index("--screenshot") + 1] if "--screenshot" in argv else None
    chromium = browser()
    if chromium is None:
        print("SKIPPED: trace_html: no chromium installed (scripts/install-deps.sh installs it)")
        return 77
    work = tempfile.mkdtemp(prefix="ballot-trace-html-")
    started = time.time()
    ok = False
    try:
        keep = os.path.join(work, "traces")
        os.mkdir(keep)
        env = dict(os.environ, BALLOT_TRACE_KEEP=keep)
        out = subprocess.run([os.path.join(build, "test_trace_view")], env=env,
                             capture_output=True, timeout=120)
        check(out.returncode == 0, "test_trace_view: %r" % out.stdout[-500:])
        run_dir = os.path.join(keep, "worked_example")
        names = ["n%d.trace" % i for i in (1, 2, 3)]
        files = [os.path.join(run_dir, n) for n in names]
        page = os.path.join(work, "worked.html")
        out = subprocess.run([os.path.abspath(os.path.join(build, "ballot")), "trace", "--html",
                              page] + names, capture_output=True, timeout=60, cwd=run_dir)
        check(out.returncode == 0 and os.path.exists(page), "ballot trace --html: %r" % (out,))
        self_contained(page)
        # The text view's filters apply: one generation, or one node's events.
        narrow = os.path.join(work, "narrow.html")
        out = subprocess.run([os.path.abspath(os.path.join(build, "ballot")), "trace", "--html",
                              narrow, "--ballot", "r2.n2", "--node", "3"] + names,
                             capture_output=True, timeout=60, cwd=run_dir)
        check(out.returncode == 0, "ballot trace --html --ballot --node: %r" % (out,))
        static = Dom()
        with open(narrow) as f:
            static.feed(f.read())
        check([a["data-gen"] for _, a, _ in static.find("gen")] == ["r2.n2"],
              "--ballot r2.n2 draws that generation alone")
        check(all(a.get("data-node") == "3" for _, a, c in static.elements
                  if "slot-ev" in c or "arrow" in c) and static.find("slot-ev"),
              "--node 3 draws node 3's events alone")
        violation = os.path.join(work, "violation.html")
        sim = subprocess.run([os.path.join(build, "ballot-sim-planted-forget-accepts"), "--seed",
                              "4", "--nodes", "3", "--html", violation],
                             capture_output=True, timeout=120)
        check(sim.returncode == 1 and os.path.exists(violation),
              "the planted simulator writes the page on its violation: %r" % sim.stdout[-300:])
        self_contained(violation)
        profile = os.path.join(work, "profile")
        events = read_trace(files)
        dom = dump_dom(chromium, profile, "file://" + page + "#cmd=5:2")
        check_worked_example(dom, events)
        # docs/debugging.md: command 5:2 went into slot 6 under r1.n1, a no-op replaced it
        # under r2.n2.
        check_followed(dom, "command 5:2", "r1.n1 r2.n2")
        check(dom.find("noop", data_gen="r2.n2", data_s0="6") and
              any("hl" in c for _, _, c in dom.find("noop", data_gen="r2.n2", data_s0="6")),
              "slot 6's no-op under r2.n2 is on 5:2's path")
        dom = dump_dom(chromium, profile, "file://" + violation + "#slot=341")
        check_violation(dom, sim.stdout.decode())
        # The planted bug (docs/debugging.md): slot 341 chosen at r21.n3, then again at r35.n1.
        sel = [a for _, a, _ in dom.find(id="selection")][0]
        gens = sel.get("data-gens", "").split()
        check("r21.n3" in gens and "r35.n1" in gens, "slot 341's path: %r" % sel)
        if screenshot:
            shot = subprocess.run([chromium] + CHROMIUM_FLAGS +
                                  ["--hide-scrollbars", "--user-data-dir=" + profile,
                                   "--window-size=1400,560",
                                   "--screenshot=" + os.path.abspath(screenshot),
                                   "file://" + page],
                                  capture_output=True, timeout=120)
            with open(screenshot, "rb") as f:
                check(shot.returncode == 0 and f.read(8) == b"\x89PNG\r\n\x1a\n",
                      "screenshot %s" % screenshot)
        ok = True
    except (Fail, OSError, subprocess.SubprocessError, ValueError) as e:
        print("FAIL: trace_html: %s" % e)
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("files kept in %s" % work)
    print("trace_html: %s in %.1fs" % ("ok" if ok else "FAILED", time.time() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
