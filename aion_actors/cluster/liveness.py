"""Who this process is, and whether another node's process is dead, seen from this machine.

A lease lapses only when the store's clock says so; that is the rule across
machines. On one machine the operating system knows better and sooner: a
node whose process is gone (killed with SIGKILL, crashed) is dead now, not
in ten seconds. Every node's heartbeat carries its host, pid and the
process's start time (the pid alone may be reused); a node on the same host
checks those against /proc and frees a dead node's shards at once. A frozen
process (SIGSTOP) is alive to the OS: it is left to the lease timeout, and
its late appends are refused by the fencing tokens.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..runtime.procs import proc_stat


def _host() -> str:
    """The host name and this boot of its kernel: two machines (or containers) that share a
    host name still differ, and a pid is only compared on the machine that issued it."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()[:8]
    except OSError:
        boot = "?"
    return f"{socket.gethostname()}/{boot}"


HOST = _host()


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if it is gone or a zombie (dead, unreaped)."""
    stat = proc_stat(pid)
    return None if stat is None or stat[0] == "Z" else stat[3]


def identity() -> dict[str, Any]:
    """This process, as its heartbeat advertises it."""
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "started": process_start(pid)}


def dead_here(info: dict[str, Any]) -> bool:
    """Whether the node's heartbeat `info` names a process of this machine that no longer runs.

    False when it runs, or when it is another machine's (only its lease can tell).
    """
    if info.get("host") != HOST or not isinstance(info.get("pid"), int):
        return False
    started = process_start(info["pid"])
    return started is None or (info.get("started") is not None and started != info["started"])


def sqlite_write_lockers(database: str) -> set[int]:
    """The pids on this machine holding a write lock on a SQLite database (the file, its -wal or -shm).

    SQLite's locks are the operating system's, held by a live process until it
    releases them: a node frozen (SIGSTOP, a debugger) inside a write
    transaction stalls every writer of the file until it resumes or dies, and
    no lease or fence can take the lock from it. This is how to find such a node.
    """
    inodes = set()
    for suffix in ("", "-wal", "-shm"):
        try:
            inodes.add(os.stat(database + suffix).st_ino)
        except OSError:
            pass
    holders = set()
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()  # "1: POSIX  ADVISORY  WRITE 13919 fe:00:2146741 120 120"
                if len(fields) >= 6 and fields[3] == "WRITE" and int(fields[5].rsplit(":", 1)[1]) in inodes:
                    holders.add(int(fields[4]))
    except OSError:
        pass
    return holders
