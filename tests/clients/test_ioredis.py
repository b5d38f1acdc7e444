"""ioredis (npm, from tests/security/clients' lock file) against a 3-node cluster: runs
ioredis_commands.js. Prints a SKIPPED line and exits 77 only when node is not installed."""

import os
import shutil
import subprocess
import sys

from clients_util import HERE, check, main

MODULES = os.path.join(HERE, "..", "security", "clients", "node_modules")


def test(cluster):
    cluster.start_all()
    cluster.leader()
    check(os.path.isdir(os.path.join(MODULES, "ioredis")),
          "ioredis is not installed: run `npm ci` in tests/security/clients "
          "(scripts/install-deps.sh does)")
    env = dict(os.environ, NODE_PATH=os.path.abspath(MODULES))
    p = subprocess.run(["node", os.path.join(HERE, "ioredis_commands.js"),
                        str(cluster.client_ports[1]), str(cluster.client_ports[2])],
                       capture_output=True, text=True, timeout=60, env=env)
    check(p.returncode == 0, "ioredis script failed:\n%s%s" % (p.stdout, p.stderr))
    print(p.stdout.strip())


if __name__ == "__main__":
    if shutil.which("node") is None:
        print("SKIPPED: clients_ioredis: node is not installed (scripts/install-deps.sh)")
        sys.exit(77)
    main(test, "clients_ioredis")
