"""Reading processes and their listening sockets from /proc (Linux).

The multi-process runtime uses these to account for every process of an
actor system and to prove that none listens beyond loopback.
"""

from __future__ import annotations

import os
import socket


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, session id, start time) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[3]), int(fields[19])


def all_processes() -> dict[int, tuple[str, int, int, int]]:
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := proc_stat(int(name))) is not None:
            procs[int(name)] = stat
    return procs


def is_running(stat) -> bool:
    return stat is not None and stat[0] not in ("Z", "X")


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening_sockets(pids) -> list[tuple[int, str, int]]:
    """Every TCP socket in LISTEN state held by `pids`, as (pid, local ip, port)."""
    found = []
    for pid in sorted(pids):
        inodes = _socket_inodes(pid)
        for table in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{pid}/net/{table}") as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if cols[3] == "0A" and int(cols[9]) in inodes:  # 0A: TCP_LISTEN
                    ip, port = cols[1].split(":")
                    found.append((pid, _hex_ip(ip), int(port, 16)))
    return found
