"""The fork guard: what every forked process of a "local" actor system does first.

Thespian's multiproc base forks the admin, the logger and every actor. Right
after each fork (`os.register_at_fork`), a process of one of this engine's
systems points fds 0, 1 and 2 away from the caller's pipes, routes
`thespian.log` to the system's log dir, appends itself to the system's pid
registry, and starts a daemon thread reading the lifeline pipe: end of file
means the engine process is gone, and the process exits. Every Thespian IP
socket of this process and its forks binds to loopback. `system.py` opens and
stops the systems; this module holds the process-wide state their forks share.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

import thespian.system.transport.IPBase as _ipbase
import thespian.system.utilis as _thesplog_state

from .procs import proc_stat
from .thespian_pin import ReadsGlobals, Replaced, require

# What this module replaces in Thespian: the one property every IP socket takes its bind address
# from, and the log file globals `thesplog` reads (set here per system, and after each fork).
SHAPE = [
    Replaced(_ipbase.IPActorAddress, "bindArgs", "(self)",
             "b6bb15fd3f34d81befb65c4e1f60c9249f3c7b8dec0ef21dd4ea78d07a416cf6"),
    ReadsGlobals(_thesplog_state, ("_thesplog_file", "_thesplog_old_file")),
    Replaced(_thesplog_state, "thesplog", "(msg, *args, **kw)",
             "36ec828f54673d4ea51c42547a65c5311edb107b49bc3f861f1be4b19480752f"),
]
require(__name__, SHAPE)

LOOPBACK = "127.0.0.1"


# -- loopback-only binding -------------------------------------------------------------

def _loopback_bind_args(self):
    """`IPActorAddress.bindArgs` with the wildcard host replaced by loopback."""
    host, *rest = self.bindname
    if self.af == socket.AF_INET6 and host in ("", "::"):
        host = "::1"
    elif host in ("", "0.0.0.0"):
        host = LOOPBACK
    return ((host, *rest),)


def install_loopback_bind() -> None:
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK
    _ipbase.IPActorAddress.bindArgs = property(_loopback_bind_args)


# -- what every forked process of a system does -----------------------------------------

@dataclass
class Spawn:
    """Set in the engine only while a local system is being created; forked copies keep it."""

    engine_pid: int
    engine_thread: int  # the thread creating the system; other threads' forks are not ours
    lifeline_fd: int  # read end of the lifeline pipe
    log_fd: int | None  # becomes fds 1 and 2 in the first child, then closed
    log_dir: str
    registry: str


_spawn: Spawn | None = None
_forking_pid = 0  # the parent's pid, as a child sees it right after the fork
lifeline_writers: set[int] = set()  # write ends held by this (engine) process
create_lock = threading.Lock()
open_log_dirs: list[str] = []  # of this engine's open local systems, oldest first


def route_engine_thesplog() -> None:
    """Thespian's log of this (engine) process goes to the newest open system's log dir."""
    if os.environ.get("THESPLOG_FILE"):
        return  # the user chose
    path = os.path.join(open_log_dirs[-1], "thespian.log") if open_log_dirs else None
    _thesplog_state._thesplog_file = path  # None: Thespian's default on next use
    _thesplog_state._thesplog_old_file = path and path + ".old"


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _after_fork_in_child() -> None:
    for fd in lifeline_writers:  # only the engine may hold a write end
        close_quietly(fd)
    lifeline_writers.clear()
    global _spawn
    spawn = _spawn
    if spawn is None:
        return
    first_fork = _forking_pid == spawn.engine_pid
    if first_fork and threading.get_ident() != spawn.engine_thread:
        _spawn = None  # another engine thread forked meanwhile: an ordinary child
        return
    try:
        if spawn.log_fd is not None:
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
            os.dup2(spawn.log_fd, 1)
            os.dup2(spawn.log_fd, 2)
            os.close(spawn.log_fd)
            spawn.log_fd = None
        _thesplog_state._thesplog_file = os.path.join(spawn.log_dir, "thespian.log")
        _thesplog_state._thesplog_old_file = _thesplog_state._thesplog_file + ".old"
        _register(spawn.registry)
        if first_fork:
            return  # Thespian's short-lived first fork: it only forks the admin and exits
        threading.Thread(target=_watch_lifeline, args=(spawn.lifeline_fd,),
                         name="aion-lifeline", daemon=True).start()
    except BaseException as exc:  # an unguarded process must not run
        os.write(2, f"aion_actors: fork guard failed in {os.getpid()}: {exc!r}\n".encode())
        os._exit(70)


def _watch_lifeline(fd: int) -> None:
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        pass
    os._exit(0)  # end of file: the engine process is gone


def _register(registry: str) -> None:
    pid = os.getpid()
    _, _, sid, start = proc_stat(pid)
    ppid = _forking_pid  # not getppid(): the parent may already have exited
    fd = os.open(registry, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{pid} {ppid} {sid} {start}\n".encode())
    finally:
        os.close(fd)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def set_spawn(spawn: Spawn | None) -> None:
    """Mark (or, with None, unmark) this thread as creating a local system: its forks are guarded."""
    global _spawn
    _spawn = spawn
