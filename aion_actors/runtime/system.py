"""Starting and stopping an isolated Thespian actor system.

`open_actor_system(runtime)` returns an `ActorSystemHandle` for one of two
runtimes:

- ``"inprocess"``: simpleSystemBase, private to the caller
  (``transientUnique=True``) and with ``logDefs=False`` so nothing is added to
  the root logger.
- ``"local"``: multiprocTCPBase, one OS process per actor, fenced against the
  hazards measured in FACTS.md:

  * Bind: Thespian binds every TCP socket to all interfaces and unpickles
    whatever arrives. Here every Thespian IP socket of this process and of
    the processes it forks binds to loopback (`_loopback_bind_args` replaces
    ``IPActorAddress.bindArgs``, the one place bind addresses come from) and
    ``THESPIAN_BASE_IPADDR=127.0.0.1`` makes the advertised addresses match.
    Both are process-wide and stay on once a local system has been opened.
  * Admin port: each system gets a fresh free loopback port instead of 1900.
  * Attach check: a random nonce is set as a capability at creation; the
    admin that answers must report it, must have been forked by this call
    and must own the listening port, or `ActorSystemStartError` is raised
    (after a few fresh ports have been tried).
  * Pipes: every forked process (admin, logger, actors) points fds 0, 1 and
    2 at ``/dev/null`` / ``<log_dir>/processes.log`` right after the fork, so
    a parent waiting on the caller's stdout/stderr never waits on them. The
    caller's own descriptors are never touched. Thespian's ``thespian.log``
    and the actors' `logging` output (``actors.log``) go to the log dir.
  * Orphans: systems still open at interpreter exit are shut down (atexit).
    Beyond that, each system has a lifeline pipe whose write end only the
    engine process holds. Every forked process of the system runs a daemon
    thread blocked reading the other end; end of file means the engine is
    gone (killed, crashed or exited without `shutdown`), and the process
    calls ``os._exit(0)``.
  * Accounting: every forked process appends ``pid ppid sid starttime`` to a
    registry file; `ActorSystemHandle.pids` returns the live registered
    processes, the processes in the admin's session and their descendants.
    `ActorSystemHandle.shutdown` stops the system, waits, then SIGKILLs
    whatever is left.

What each forked process does (bind, pipes, lifeline, registry) lives in
`forkguard`; this module opens, accounts for and stops the systems.

Linux only for "local" (it reads ``/proc``).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import weakref

from thespian.actors import ActorSystem
from thespian.system.messages.status import Thespian_StatusReq, Thespian_SystemStatus

from ..config import RUNTIMES
from ..errors import AionError, InvalidArgument
from . import forkguard
from .simplebase import patch_simple_base
from .procs import all_processes, is_running, listening_sockets, proc_stat

log = logging.getLogger("aion_actors.runtime.system")

LOOPBACK = forkguard.LOOPBACK
NONCE_CAPABILITY = "Aion System Nonce"
START_ATTEMPTS = 3


class ActorSystemStartError(AionError):
    """A local actor system could not be started as this engine's own."""


_open_handles: weakref.WeakSet = weakref.WeakSet()  # shut down at interpreter exit


@atexit.register
def _shutdown_open_systems() -> None:
    for handle in list(_open_handles):
        handle.shutdown()


# -- the handle -------------------------------------------------------------------------

class ActorSystemHandle:
    """One actor system this engine started; `shutdown` it when done (idempotent)."""

    def __init__(self, runtime: str, system: ActorSystem | None, *, admin_port: int | None = None,
                 log_dir: str | None = None, own_log_dir: bool = False,
                 lifeline_fd: int | None = None, registry: str | None = None) -> None:
        self.runtime = runtime
        self.system = system
        self.admin_port = admin_port
        self.log_dir = log_dir
        self._own_log_dir = own_log_dir
        self._lifeline_fd = lifeline_fd
        self._registry = registry
        self._engine_pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> ActorSystemHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed

    def _entries(self) -> list[tuple[int, int, int, int]]:
        try:
            with open(self._registry) as f:
                return [tuple(map(int, line.split())) for line in f if line.count(" ") == 3]
        except (OSError, TypeError):
            return []

    def _is_admin(self, ppid: int, sid: int) -> bool:
        # Thespian forks a process that calls setsid() and forks the admin:
        # the admin's parent leads its session and is not the engine.
        return sid == ppid != self._engine_pid

    @property
    def admin_pid(self) -> int | None:
        """The process id of the admin this engine started."""
        for pid, ppid, sid, _ in self._entries():
            if self._is_admin(ppid, sid):
                return pid
        return None

    def _members(self) -> dict[int, int]:
        """pid -> start time of every running process of this system."""
        entries = self._entries()
        if not entries:
            return {}
        procs = all_processes()
        starts = {pid: start for pid, _, _, start in entries}
        sessions = {sid for _, ppid, sid, _ in entries if self._is_admin(ppid, sid)}
        sessions.discard(os.getsid(0))  # never the engine's own session
        for sid in list(sessions):  # the leader (Thespian's first fork) died: was its pid reused?
            if is_running(procs.get(sid)) and procs[sid][3] != starts.get(sid):
                sessions.discard(sid)
        members = {pid for pid, _, _, start in entries
                   if is_running(procs.get(pid)) and procs[pid][3] == start}
        members |= {pid for pid, st in procs.items() if st[2] in sessions and is_running(st)}
        children: dict[int, list[int]] = {}
        for pid, st in procs.items():
            children.setdefault(st[1], []).append(pid)
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in members and is_running(procs[child]):
                    members.add(child)
                    todo.append(child)
        members.discard(self._engine_pid)
        return {pid: procs[pid][3] for pid in members}

    def pids(self) -> set[int]:
        """The running processes of this system (admin, logger, actors); empty for inprocess."""
        return set(self._members())

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the system; after `timeout` seconds SIGKILL any of its processes still running.

        Thespian's own shutdown request may itself block up to 10 s if the
        admin does not answer.
        """
        with self._lock:
            if self._closed or os.getpid() != self._engine_pid:
                return  # done already, or a forked copy of the engine: not its system
            self._closed = True
        self._stop(timeout, ask_admin=True)

    def _stop(self, timeout: float, *, ask_admin: bool) -> None:
        if self.runtime == "inprocess":
            self.system.shutdown()
            return
        tracked = self._members()
        try:
            if self.system is not None:
                if ask_admin:
                    self.system.shutdown()
                else:  # not ours: leave that admin alone, just drop our endpoint
                    self.system._systemBase.transport.close()
        except Exception:
            log.exception("actor system shutdown request failed; killing its processes")
        finally:
            with forkguard.create_lock:
                if self.log_dir in forkguard.open_log_dirs:
                    forkguard.open_log_dirs.remove(self.log_dir)
                    forkguard.route_engine_thesplog()
            if self._lifeline_fd is not None:  # end of file for every process still running
                forkguard.lifeline_writers.discard(self._lifeline_fd)
                forkguard.close_quietly(self._lifeline_fd)
                self._lifeline_fd = None
            self._reap_and_kill(tracked, time.monotonic() + timeout)

    def _reap_and_kill(self, tracked: dict[int, int], deadline: float) -> None:
        def running() -> dict[int, int]:
            tracked.update(self._members())
            for pid, start in list(tracked.items()):
                stat = proc_stat(pid)
                if not is_running(stat) or stat[3] != start:
                    del tracked[pid]
            return tracked

        while running() and time.monotonic() < deadline:
            time.sleep(0.02)
        for attempt in range(50):
            if not running():
                break
            for pid, start in tracked.items():
                stat = proc_stat(pid)
                if is_running(stat) and stat[3] == start:  # same process, not a reused pid
                    if attempt == 0:
                        log.warning("actor system process %d outlived shutdown; SIGKILL", pid)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.02)
        self._reap_children()
        if self._own_log_dir and self.log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def _reap_children(self) -> None:
        """Collect the exited process Thespian forks in the engine (it never waits for it)."""
        for pid, ppid, _, start in self._entries():
            stat = proc_stat(pid)
            if ppid == self._engine_pid and stat is not None and stat[3] == start:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def _ownership_problem(self, nonce: str) -> str | None:
        admin_pid = self.admin_pid
        if admin_pid is None:
            return f"no admin was started for port {self.admin_port} (is another process on it?)"
        if not any(port == self.admin_port for _, _, port in listening_sockets([admin_pid])):
            return f"the admin this engine started does not own port {self.admin_port}"
        admin = self.system._systemBase.adminAddr
        status = self.system.ask(admin, Thespian_StatusReq(), 5)
        if not isinstance(status, Thespian_SystemStatus):
            return f"the admin on port {self.admin_port} did not answer a status request"
        if status.capabilities.get(NONCE_CAPABILITY) != nonce:
            return f"the admin on port {self.admin_port} belongs to another actor system"
        return None


# -- opening ----------------------------------------------------------------------------

def open_actor_system(runtime: str, *, log_dir: str | None = None) -> ActorSystemHandle:
    """Start a new actor system that only this engine uses.

    Args:
        runtime: "inprocess" or "local" (see the module docstring).
        log_dir: "local" only: where thespian.log, actors.log and
            processes.log go. Default: a temporary directory removed at
            shutdown.

    Raises:
        InvalidArgument: unknown runtime.
        ActorSystemStartError: no isolated local system could be started.
    """
    if runtime == "inprocess":
        patch_simple_base()
        return ActorSystemHandle(runtime, ActorSystem("simpleSystemBase", transientUnique=True,
                                                      logDefs=False))
    if runtime != "local":
        raise InvalidArgument(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    forkguard.install_loopback_bind()
    own_log_dir = log_dir is None
    log_dir = log_dir if log_dir is not None else tempfile.mkdtemp(prefix="aion-actors-")
    os.makedirs(log_dir, exist_ok=True)
    problem: object = None
    for _ in range(START_ATTEMPTS):
        handle, nonce, error = _start_local(log_dir)
        if error is None:
            problem = handle._ownership_problem(nonce)
            if problem is None:
                handle._own_log_dir = own_log_dir
                handle._reap_children()
                with forkguard.create_lock:
                    forkguard.open_log_dirs.append(log_dir)
                    forkguard.route_engine_thesplog()
                _open_handles.add(handle)
                return handle
        else:
            problem = error
        handle._closed = True
        handle._stop(2.0, ask_admin=False)
    if own_log_dir:
        shutil.rmtree(log_dir, ignore_errors=True)
    raise ActorSystemStartError(
        f"could not start an isolated local actor system in {START_ATTEMPTS} attempts: {problem}"
    ) from (problem if isinstance(problem, BaseException) else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _log_defs(log_dir: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain",
                              "filename": os.path.join(log_dir, "actors.log")}},
        "root": {"handlers": ["file"], "level": "WARNING"},
    }


def _start_local(log_dir: str) -> tuple[ActorSystemHandle, str, Exception | None]:
    port, nonce = _free_port(), secrets.token_hex(16)
    registry = os.path.join(log_dir, f"pids-{port}-{nonce[:8]}")
    read_fd, write_fd = os.pipe()
    log_fd = os.open(os.path.join(log_dir, "processes.log"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    system, error = None, None
    with forkguard.create_lock:
        forkguard.lifeline_writers.add(write_fd)
        forkguard.set_spawn(forkguard.Spawn(os.getpid(), threading.get_ident(), read_fd, log_fd, log_dir, registry))
        for stream in (sys.stdout, sys.stderr):  # or a child would write the buffer again
            try:
                stream.flush()
            except Exception:
                pass
        try:
            system = ActorSystem("multiprocTCPBase", {"Admin Port": port, NONCE_CAPABILITY: nonce},
                                 logDefs=_log_defs(log_dir), transientUnique=True)
        except Exception as exc:
            error = exc
        finally:
            forkguard.set_spawn(None)
            os.close(read_fd)
            os.close(log_fd)
    handle = ActorSystemHandle("local", system, admin_port=port, log_dir=log_dir,
                               lifeline_fd=write_fd, registry=registry)
    return handle, nonce, error
