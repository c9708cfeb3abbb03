"""A supervised local cluster: N node processes on this machine under an OTP supervisor.

`LocalCluster` runs a `supervisors.Supervisor` (``one_for_one``, permanent
children) on a private in-process actor system, driven by a thread of its
own (the simple base runs actors only while one thread is inside
``listen``, and one thread must drive it). Each child is a `NodeProcess`
actor that owns one OS process:

- it spawns the process (by default ``python -m aion_actors.cli worker
  FILE... --store URL --node-id node-<i> --lease-ttl S``, see
  `worker_command`), its stdout and stderr appended to ``<log_dir>/<node
  id>.log``, with ``PR_SET_PDEATHSIG`` so the process dies with the thread
  that started it (even when this process is SIGKILLed);
- it watches the pid with `supervisors.ProcessWatcher` (a pidfd: no
  polling of Thespian's notices, which FACTS.md shows dropping deaths) and,
  when the process ends, reaps it and exits with an abnormal reason, so the
  supervisor restarts it: a fresh process with the same node id;
- asked to stop, it sends SIGTERM, waits `stop_grace` seconds, then
  SIGKILLs and reaps.

Past the restart intensity the supervisor stops every node and exits; the
cluster then reports `ClusterStopped` naming the node that kept dying. What
happens is reported as events (`NodeStarted`, `NodeExited`,
`ClusterStopped`) that `LocalCluster.next_event` returns.
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from thespian.actors import ChildActorExited

from supervisors import (ChildSpec, Configure, Down, LinkedActor, Shutdown, Start, Supervisor,
                         SupervisorSpec)

from ..errors import InvalidArgument
from ..runtime.system import open_actor_system

# At most INTENSITY restarts within PERIOD seconds, then everything stops. A node that cannot start
# (a bad store URL, an import error) dies 0.6-1.1 s after its start here: 20 s catches it in about
# 10 s, while a node killed now and then, even every few seconds, never comes near it.
INTENSITY = 10
PERIOD = 20.0
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL when stopping a node
TAIL_LINES = 12  # lines of a dead node's output kept for the report

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls into it


def worker_command(sources: Sequence[str], store: str, lease_ttl: float) -> Callable[[str], list[str]]:
    """The command of one `aion worker` node, as a function of its node id."""
    def command(node_id: str) -> list[str]:
        return [sys.executable, "-m", "aion_actors.cli", "worker", *sources, "--store", store,
                "--node-id", node_id, "--lease-ttl", f"{lease_ttl:g}"]
    return command


# -- events (what the driver thread reports) ------------------------------------------------

@dataclass(frozen=True, slots=True)
class NodeStarted:
    """A node process is running: `start` counts from 0 (0 is the first start, 1 the first restart)."""

    node_id: str
    pid: int
    start: int


@dataclass(frozen=True, slots=True)
class NodeExited:
    """A node process ended: `expected` when the cluster stopped it, else it died on its own.

    `returncode` is negative for a signal (-9: SIGKILL); `tail` its last lines of output.
    """

    node_id: str
    pid: int
    returncode: int
    expected: bool
    tail: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClusterStopped:
    """Every node is stopped. `failed_node` names the node that kept dying when the restart
    intensity was exceeded (None for a requested stop), `tail` its last lines of output."""

    reason: Any
    failed_node: str | None = None
    tail: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.reason != "shutdown"


class _Stopping:
    """Set once when the cluster stops (every node was sent SIGTERM then): shared by the
    driver and the node actors, which run in its thread."""

    def __init__(self) -> None:
        self._at: float | None = None

    def set(self) -> None:
        self._at = time.monotonic()

    def is_set(self) -> bool:
        return self._at is not None

    def left(self, grace: float) -> float:
        """Seconds left of `grace` counted from the common SIGTERM (all of it for a node stopped alone)."""
        return grace if self._at is None else max(0.0, self._at + grace - time.monotonic())


# -- the actors -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A `NodeProcess`'s init message: what to run and whom to tell."""

    node_id: str
    argv: tuple[str, ...]
    log_path: str
    stop_grace: float
    report_to: Any
    stopping: _Stopping  # set once the cluster stops: a restart then declines to start
    env: tuple[tuple[str, str], ...] | None = None


def _die_with_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:
        # Runs in the forked child before exec, where another thread may have held a lock at
        # fork time: two system calls, nothing that allocates or imports.
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will send the signal
            os._exit(1)
    return preexec


def _tail(path: str, offset: int) -> tuple[str, ...]:
    """The last lines written to `path` after `offset` (one run's output)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(offset, os.path.getsize(path) - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ()
    return tuple(text.splitlines()[-TAIL_LINES:])


class NodeProcess(LinkedActor):
    """Owns one node's OS process: spawns it, watches it, and exits when it ends (a crash, so the
    supervisor restarts it) or stops it when asked (SIGTERM, then SIGKILL after `stop_grace`)."""

    liveness_check = 0.05  # the pidfd poll: a SIGKILLed node is restarted well within a second

    def __init__(self) -> None:
        super().__init__()
        self._spec: NodeSpec | None = None
        self._proc: subprocess.Popen | None = None
        self._offset = 0
        self._reported = False  # its NodeExited was sent

    def receive(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, NodeSpec):
            self._spawn(msg)
        elif isinstance(msg, ChildActorExited) and msg.childAddress == self.myAddress and self._proc is not None:
            code = self._proc.wait()
            self._report(code, expected=self._spec.stopping.is_set())
            self.exit(("node_exited", self._spec.node_id, code))

    def _spawn(self, spec: NodeSpec) -> None:
        self._spec = spec
        if spec.stopping.is_set():
            self.ignore()  # a node that died of the cluster's own SIGTERM: not restarted
            return
        with open(spec.log_path, "ab") as log:
            self._offset = log.tell()
            self._proc = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          env=None if spec.env is None else dict(spec.env),
                                          # Its own process group: a terminal's Ctrl-C reaches only the
                                          # supervisor, which stops the nodes in order instead of
                                          # restarting ones that died of the same SIGINT.
                                          process_group=0, preexec_fn=_die_with_parent(os.getpid()))
        # The watched "child" is this actor's own address: the process is not an actor,
        # and the death notice the watch sends itself must carry a real address here.
        self.watch_process(self.myAddress, self._proc.pid)
        self.send(spec.report_to, ("started", spec.node_id, self._proc.pid))

    def terminate(self, reason: Any) -> None:
        proc = self._proc
        if proc is None or self._reported:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self._spec.stopping.left(self._spec.stop_grace))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._report(proc.returncode, expected=True)

    def _report(self, code: int, expected: bool) -> None:
        spec = self._spec
        self._reported = True
        self.send(spec.report_to, NodeExited(spec.node_id, self._proc.pid, code, expected,
                                             _tail(spec.log_path, self._offset)))


@dataclass(frozen=True, slots=True)
class _Boot:
    """The root's init message: `make_spec(driver address)` (in-process only: never pickled)."""

    make_spec: Callable[[Any], SupervisorSpec]


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


class ClusterRoot(LinkedActor):
    """Starts the supervisor, monitors it, and tells the driver how it ended."""

    def __init__(self) -> None:
        super().__init__()
        self._driver = None
        self._sup = None

    def receive(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, _Boot):
            self._driver = sender  # the driver thread's address: nodes report to it directly
            self._sup = self.createActor(Supervisor)
            self.monitor(self._sup)
            self.send(self._sup, Configure(msg.make_spec(sender)))
        elif isinstance(msg, _Stop) and self._sup is not None:
            self.send(self._sup, Shutdown())
        elif isinstance(msg, Down):
            self.send(self._driver, ("down", msg.reason))
            self.exit("normal")


# -- the cluster ----------------------------------------------------------------------------

class LocalCluster:
    """N node processes under a supervisor, driven by a thread of this object's own.

    Args:
        node_ids: the nodes, in start order (stopped in reverse).
        command: the argv of a node, given its id (`worker_command` for
            `aion worker` nodes; any command will do, which tests use).
        intensity, period: at most `intensity` restarts within `period`
            seconds; one more stops every node (`ClusterStopped.failed`).
        stop_grace: seconds between SIGTERM and SIGKILL when stopping a node.
        log_dir: where each node's output goes (``<node id>.log``, see
            `log_path`); default a temporary directory, removed after a clean
            stop and kept after a failure, for its logs to be read.
        env: the nodes' environment (default: this process's).
    """

    def __init__(self, node_ids: Sequence[str], command: Callable[[str], list[str]], *,
                 intensity: int = INTENSITY, period: float = PERIOD, stop_grace: float = STOP_GRACE,
                 log_dir: str | None = None, env: dict[str, str] | None = None) -> None:
        if not node_ids:
            raise InvalidArgument("a cluster needs at least one node: pass --nodes 1 or more")
        self.node_ids = tuple(node_ids)
        self._command = command
        self._intensity, self._period, self._grace = intensity, period, stop_grace
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir if log_dir is not None else tempfile.mkdtemp(prefix="aion-cluster-")
        os.makedirs(self.log_dir, exist_ok=True)
        self._env = None if env is None else tuple(sorted(env.items()))
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._stopping = _Stopping()
        self._pids: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._starts: dict[str, int] = {}
        self._last_death: NodeExited | None = None
        self.stopped: ClusterStopped | None = None

    def log_path(self, node_id: str) -> str:
        return os.path.join(self.log_dir, f"{node_id}.log")

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "LocalCluster":
        """Start the driver thread, which starts every node; returns at once (see `next_event`)."""
        self._thread = threading.Thread(target=self._drive, name="aion-cluster", daemon=True)
        self._thread.start()
        return self

    def next_event(self, timeout: float | None = None) -> NodeStarted | NodeExited | ClusterStopped | None:
        """The next thing that happened, or None after `timeout` seconds. `ClusterStopped` comes last."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> ClusterStopped | None:
        """Stop every node (reverse start order; SIGTERM, then SIGKILL after the grace) and wait."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._own_log_dir and self.stopped is not None and not self.stopped.failed:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        return self.stopped

    def _spec(self, driver: Any) -> SupervisorSpec:
        children = tuple(
            ChildSpec(node_id, Start(NodeProcess, NodeSpec(node_id, tuple(self._command(node_id)),
                                                           self.log_path(node_id), self._grace, driver,
                                                           self._stopping, self._env)),
                      restart="permanent", shutdown=self._grace + 5.0)
            for node_id in self.node_ids)
        return SupervisorSpec("one_for_one", intensity=self._intensity, period=self._period, children=children)

    def _drive(self) -> None:
        handle = open_actor_system("inprocess")
        try:
            system = handle.system
            root = system.createActor(ClusterRoot)
            system.tell(root, _Boot(self._spec))
            stopping = False
            while self.stopped is None:
                if self._stop.is_set() and not stopping:
                    stopping = True
                    self._terminate_all()
                    system.tell(root, _Stop())
                msg = system.listen(0.05)
                if msg is not None:
                    self._on(msg)
        finally:
            handle.shutdown()
            if self.stopped is None:
                self.stopped = ClusterStopped("driver_failed")
                self._events.put(self.stopped)

    def _terminate_all(self) -> None:
        """SIGTERM every node at once, so they wind down (and hand their shards off) together;
        the supervisor's ordered shutdown then only waits for each, then SIGKILLs a late one."""
        self._stopping.set()
        for pid in self._pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _on(self, msg: Any) -> None:
        if isinstance(msg, tuple) and msg[0] == "started":
            _, node_id, pid = msg
            start = self._starts.get(node_id, -1) + 1
            self._starts[node_id] = start
            self._pids[node_id] = pid
            self._events.put(NodeStarted(node_id, pid, start))
        elif isinstance(msg, NodeExited):
            if not msg.expected:
                self._last_death = msg
            self._events.put(msg)
        elif isinstance(msg, tuple) and msg[0] == "down":
            reason = msg[1]
            death = self._last_death if reason != "shutdown" else None
            self.stopped = ClusterStopped(reason, death.node_id if death else None, death.tail if death else ())
            self._events.put(self.stopped)
