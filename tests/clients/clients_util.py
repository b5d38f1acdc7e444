"""Shared by the client-library tests: the cluster helpers of tests/server, and redis-py
from Debian's python3 (python3-redis)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import ballot_cluster  # noqa: E402,F401
from ballot_cluster import TestFailure, check, main  # noqa: E402,F401
