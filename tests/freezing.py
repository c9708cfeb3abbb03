"""Freezing a process (SIGSTOP) as the split-brain tests need it: between two of its SQLite writes.

A process frozen inside a SQLite write transaction keeps the file's lock (the
operating system's) and stalls every writer until it resumes: no lease or
fence can take it (README, "Clusters"). The tests freeze a node or a worker
to show it is fenced out, so they freeze it between transactions. PostgreSQL
needs no care: the server ends a session idle in its transaction after a few
seconds (`stores._sqlhooks.IDLE_IN_TRANSACTION_S`).
"""

from __future__ import annotations

import signal
import subprocess
import time

from aion_actors.cluster.liveness import sqlite_write_lockers


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] in "Tt"


def freeze(child: subprocess.Popen, store_url: str) -> subprocess.Popen:
    """SIGSTOP `child` at a moment it holds no write lock on the store (if it is a SQLite file)."""
    database = store_url.removeprefix("sqlite:///") if store_url.startswith("sqlite:///") else None
    while True:
        child.send_signal(signal.SIGSTOP)
        while not stopped(child.pid):
            time.sleep(0.001)
        if database is None or child.pid not in sqlite_write_lockers(database):
            return child
        child.send_signal(signal.SIGCONT)
        time.sleep(0.01)
