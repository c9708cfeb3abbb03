"""The embedded engine and the handles clients use to reach workflows.

`Engine` is a context manager: entering it opens the store, starts the
actor runtime and resumes every running workflow found in the store;
leaving it stops the runtime (the workflows stay durable and resume on the
next open). Client calls are safe from any thread.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Callable, Sequence

from stores.base import EventStore, WorkflowFilter, WorkflowSummary
from stores.inbox import RequestInbox

from . import converter
from . import events as ev
from .config import EngineConfig
from .definitions import Registry, workflow_definition
from .description import WorkflowDescription, describe, unfinished_tasks
from .errors import (AionError, InvalidArgument, ShardMoved, WorkflowCancelled, WorkflowFailed, WorkflowNotFound,
                     WorkflowTimedOut)
from .ids import check_workflow_id, new_workflow_id
from .request_server import RequestServer
from .runtime import Runtime, clock_for, start_runtime, store_errors
from .seam import Residency
from .services import QueryService, SignalService
from .payload import Payload
from .status import WorkflowStatus

_POLL = 0.25
_FIRST_POLL = 0.005


class Engine:
    """An embedded durable workflow engine.

    Args:
        store: a store URL (`sqlite:///aion.db`, `sqlite://`, `postgresql+psycopg://...`,
            `memory:`) or an `EventStore`.
        workflows / activities: the `@workflow.defn` / `@activity.defn` functions served.
        runtime: `"inprocess"` (the default: one engine thread drives lightweight
            actors) or `"local"` (every actor an OS process on this machine, bound
            to loopback, for isolation; needs a file or PostgreSQL store).
        durability: SQLite only: `"process"` (survives a process crash) or `"fsync"`.
        activity_workers: threads for blocking activity code.
        idle_timeout: seconds a run waiting on signals/timers/children stays resident
            without traffic before it is passivated (its actors stopped; rebuilt by
            replay when something arrives).
        max_resident: resident runs beyond which the least recently used idle ones
            are passivated, and new or revived runs wait for room (default 10,000
            in process, 64 on "local", where each resident run costs OS processes).
        activity_cancel_grace: seconds a cancelled (or timed-out) activity attempt that has a
            process of its own (the "local" runtime, `executor="process"`) gets to stop
            before that process is killed.
        time_skipping: for tests (`aion_actors.testing` sets it): the engine runs on a
            virtual clock that jumps to the next timer while a `result()` waits and
            nothing else is pending (no request, no running activity attempt), so
            long sleeps, timeouts and retry backoffs take no wall time. Recorded
            times and `workflow.now()` follow the virtual clock. In-process only.
        serve_requests: answer the store's request inbox for the shards this node owns (see
            `serve_requests()`), so the `aion` CLI and the other nodes of the cluster reach
            the workflows served here. Default: when the store has an inbox (every bundled
            store does); False only for an engine alone on its store. True with a store
            object that is not a `stores.RequestInbox` is refused.
        node_id: this node's name in the cluster (default: host-pid-random). A node restarted
            under the same id takes its shards back at once instead of after a lease timeout.
        lease_ttl: seconds a node's shard leases last without renewal (default 10, at least 1).
            A node killed on another machine (or frozen) loses its shards after this long;
            one killed on this machine is noticed at once. Shorter fails over sooner; leases are renewed every
            second, or every quarter of the timeout when that is shorter.
        capabilities: names the node declares in its heartbeat (`aion cluster status` shows them).
        cluster_address: ``"host:port"`` where this node hears wake-ups from the others (the
            fast path of routed calls). Default: ``$AION_CLUSTER_ADDRESS``, else 127.0.0.1 on a
            port the OS picks. An address beyond loopback needs ``AION_CLUSTER_SECRET``, the
            same on every node and client (see docs/operations.md, "Threat model").
        owns_shards: False makes this engine a client of the cluster on its store: it owns no
            shard and runs no workflow; every call goes to the node that owns the workflow.
            For processes that start and follow workflows (a web app, a script), not run them.
            Its `workflows` may be empty: a workflow named by a string is checked by its owner.
            With `task_queues` it is a worker-only process: it runs the attempts of those queues.
        task_queues: the task queues this engine serves (names, or `aion_actors.TaskQueue` with
            limits): it claims their attempts from the store and runs them with its
            `activities`, whichever node owns their workflows. A queue's cluster-wide limits
            (`concurrency`, `rate_limit`) are written to the store when the engine opens. Without
            it the engine runs only the attempts of activities on no task queue (its own runs').
        task_lease: seconds a claim on a task lasts without renewal (default 10; renewed about
            every third of it). A worker killed mid-attempt loses it after this long, and the
            attempt is retried per its `RetryPolicy`.

    Raises:
        InvalidArgument: a setting out of range, or settings that do not go together (say,
            `runtime="local"` with an in-memory store), before anything is opened.
    """

    def __init__(self, store: str | EventStore = "sqlite:///aion.db", *, workflows: Sequence[Callable] = (),
                 activities: Sequence[Callable] = (), runtime: str = "inprocess", durability: str = "process",
                 activity_workers: int = 32, idle_timeout: float = 60.0, max_resident: int | None = None,
                 activity_cancel_grace: float = 5.0, time_skipping: bool = False,
                 serve_requests: bool | None = None, node_id: str | None = None, lease_ttl: float = 10.0,
                 capabilities: Sequence[str] = (), cluster_address: str | None = None,
                 owns_shards: bool = True, task_queues: Sequence[Any] = (), task_lease: float = 10.0) -> None:
        self._config = EngineConfig(store=store, runtime=runtime, durability=durability,
                                    activity_workers=activity_workers, idle_timeout=idle_timeout,
                                    max_resident=max_resident, activity_cancel_grace=activity_cancel_grace,
                                    time_skipping=time_skipping, serve_requests=serve_requests, node_id=node_id,
                                    lease_ttl=lease_ttl, capabilities=capabilities,
                                    cluster_address=cluster_address, owns_shards=owns_shards,
                                    task_queues=task_queues, task_lease=task_lease)
        self._registry = Registry(list(workflows), list(activities))
        self._clock = clock_for(time_skipping)
        self._runtime: Runtime | None = None
        self._request_server: RequestServer | None = None
        self.resumed = 0  # running workflows found in the store and resumed by the last open()

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "Engine":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> "Engine":
        """Open the store, start the runtime and resume every running workflow found in the store."""
        self._runtime, self.resumed = start_runtime(self._config, self._registry, self._clock)
        serve = self._config.serve_requests
        if serve or (serve is None and self._config.owns_shards and isinstance(self._runtime.store, RequestInbox)):
            self.serve_requests()
        return self

    def serve_requests(self) -> None:
        """Answer the store's request inbox from now until `close()`; idempotent.

        Other processes (the `aion` CLI: `aion start/signal/query/cancel/terminate/pause/resume`,
        and the other nodes of the cluster) cannot append to the histories this node writes;
        they put requests in the store addressed to the workflow's shard, and the shard's
        owner performs them through its own API and answers.
        """
        self._require_open()
        if self._request_server is None:
            self._request_server = RequestServer(self).start()

    def close(self) -> None:
        """Stop serving requests, then the runtime; the workflows stay durable and resume on the next open."""
        if self._request_server is not None:
            self._request_server.stop()
            self._request_server = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    @property
    def node_id(self) -> str:
        """This engine's node id in the cluster of its store."""
        return self._require_open().node_id

    def _require_open(self) -> Runtime:
        if self._runtime is None:
            raise AionError("the engine is not open: use 'with Engine(...) as engine:' or engine.open()")
        return self._runtime

    @property
    def _store(self) -> EventStore:
        return self._require_open().store

    def _service(self, kind):
        return kind(self._require_open().seam, lambda workflow_id: self._summary(workflow_id).status)

    # -- starting and finding workflows ----------------------------------------

    def start(self, workflow: Callable | str, input: Any = None, *, id: str | None = None) -> "WorkflowHandle":
        """Record `WorkflowStarted` and run the workflow; return its handle once recorded.

        Raises `UnknownWorkflowType`, `WorkflowAlreadyExists`, or `PayloadError`
        (before anything is recorded) for an input that cannot be encoded.
        """
        name = workflow if isinstance(workflow, str) else workflow_definition(workflow).name
        if self._config.owns_shards or name in self._registry.workflows:
            definition = self._registry.workflow(name)
        else:
            definition = None  # a client that does not have the code: the owner checks the name
        workflow_id = new_workflow_id() if id is None else check_workflow_id(id)
        if definition is not None and input is not None and not definition.takes_input:
            raise InvalidArgument(f"workflow {name!r} takes no input, but input was given")
        payload = converter.encode_value(input)
        self._start(workflow_id, name, payload)
        return WorkflowHandle(self, workflow_id)

    def _start(self, workflow_id: str, name: str, payload: Payload) -> None:
        body = {"type": name, "content_type": payload.content_type, "payload": payload.data}

        def here(runtime: Runtime) -> None:
            self._registry.workflow(name)  # UnknownWorkflowType from the node that would run it
            runtime.start_workflow(workflow_id, ev.WorkflowStarted(name, payload), timeout=60)

        self._perform("start", workflow_id, body, here)

    def _perform(self, kind: str, workflow_id: str, body: dict, here: Callable[[Runtime], Any],
                 timeout: float = 60) -> Any:
        """Do a client call here when this node owns the workflow's shard, else ask its owner.

        The owner is reached through the store's request inbox (`aion_actors.inbox`), which
        waits `timeout` seconds for a node to take it: a shard whose owner just died is
        taken over within a lease timeout, and the call is answered then.
        """
        runtime = self._require_open()
        if runtime.owns(workflow_id):
            try:
                return here(runtime)
            except ShardMoved:
                pass  # it moved while we asked: its new owner answers
        return runtime.call(kind, workflow_id, body, timeout)

    def _signal(self, workflow_id: str, name: str, payload: Any, key: str = "") -> None:
        """`payload` may be encoded already (a `Payload`): a routed signal keeps its bytes."""
        encoded = payload if isinstance(payload, Payload) else converter.encode_value(payload)
        self._perform("signal", workflow_id, {"name": name, "content_type": encoded.content_type,
                                              "data": encoded.data},
                      lambda runtime: self._service(SignalService).signal(workflow_id, name, payload, key=key))

    def get_handle(self, workflow_id: str) -> "WorkflowHandle":
        """A handle to an existing workflow; raises `WorkflowNotFound`."""
        if self._summary(check_workflow_id(workflow_id)) is None:
            raise WorkflowNotFound(workflow_id)
        return WorkflowHandle(self, workflow_id)

    def list(self, status: str | WorkflowStatus | None = None, type: str | None = None,
             limit: int | None = None, offset: int = 0) -> list[WorkflowSummary]:
        """`WorkflowSummary`s of stored workflows, newest first (see `aion_actors.WorkflowSummary`)."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise InvalidArgument(f"limit must be an int >= 1 or None, got {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument(f"offset must be an int >= 0, got {offset!r}")
        if status is not None:
            try:
                status = WorkflowStatus(status).value
            except ValueError:
                raise InvalidArgument(f"unknown status {status!r}; one of "
                                      f"{', '.join(s.value for s in WorkflowStatus)}") from None
        with store_errors():
            return self._store.query(WorkflowFilter(workflow_type=type, status=status,
                                                              limit=limit, offset=offset))

    def residency(self, workflow_id: str) -> Residency:
        """Where a workflow lives now, as a `Residency`: resident here, durable but not resident
        (rebuilt by replay when something arrives), ended, or unknown. Asking does not wake it."""
        where = self._require_open().seam.resolve_workflow(workflow_id)
        if where is Residency.RESIDENT:
            # Its end may be committed while its actors are still stopping (on "local", the
            # Recorder's notice travels between processes): once recorded, it has ended.
            summary = self._summary(workflow_id)
            if summary is not None and summary.closed_at is not None:
                return Residency.TERMINAL
        return where

    def _summary(self, workflow_id: str) -> WorkflowSummary | None:
        with store_errors():
            return self._store.get_summary(workflow_id)

    def _history(self, workflow_id: str) -> list[ev.HistoryEvent]:
        with store_errors():
            return [ev.from_stored(s) for s in self._store.read_history(workflow_id)]


class WorkflowHandle:
    """A reference to one workflow (all its runs); cheap, and safe to share between threads."""

    def __init__(self, engine: Engine, workflow_id: str) -> None:
        self._engine = engine
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the last run of the chain to end; return its value.

        Raises `WorkflowFailed` (with `.cause`), `WorkflowCancelled`,
        `WorkflowTimedOut`, `WorkflowNotFound`, or the built-in
        `TimeoutError` when `timeout` seconds pass first. A run served by
        this engine answers when it closes; one served by another process
        is followed by polling the store. With `Engine(time_skipping=True)`,
        virtual time skips ahead while this waits.
        """
        with self._engine._clock.waiting_for_result():
            return self._wait_result(timeout)

    def _wait_result(self, timeout: float | None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        waiter = self._engine._runtime.wait_result(self.workflow_id) if self._engine._runtime is not None else None
        polls = 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"workflow {self.workflow_id!r} did not finish within {timeout}s")
            # A run another node serves is followed in the store: soon at first (most runs are
            # short), then every _POLL; one served here answers through its waiter.
            wait = _POLL if waiter is not None else min(_POLL, _FIRST_POLL * 2 ** polls)
            wait = wait if remaining is None else min(wait, remaining)
            if waiter is not None:
                try:
                    closed = waiter.result(wait)
                except concurrent.futures.TimeoutError:
                    closed = None
                else:
                    if closed is not None:
                        return self._outcome(*closed)
                    waiter = None  # closed before we asked: the store has it
            elif polls:
                time.sleep(wait)
            polls += 1
            summary = self._engine._summary(self.workflow_id)
            if summary is None:
                raise WorkflowNotFound(self.workflow_id)
            if summary.closed_at is not None:
                history = self._engine._history(self.workflow_id)
                started = next(e.event for e in reversed(history) if isinstance(e.event, ev.WorkflowStarted))
                return self._outcome(started.workflow_type, history[-1].event)

    def _outcome(self, workflow_type: str, last: ev.Event) -> Any:
        if isinstance(last, ev.WorkflowCompleted):
            definition = self._engine._registry.workflows.get(workflow_type)
            annotation = converter.return_annotation(definition.fn) if definition else Any
            return converter.decode_value(last.result, annotation)
        if isinstance(last, ev.WorkflowFailed):
            raise WorkflowFailed(self.workflow_id, last.failure)
        if isinstance(last, ev.WorkflowCancelled):
            raise WorkflowCancelled(self.workflow_id, last.reason, last.terminated)
        if isinstance(last, ev.WorkflowTimedOut):
            raise WorkflowTimedOut(self.workflow_id, last.timeout)
        raise AionError(f"workflow {self.workflow_id!r} closed with an unexpected {last.type_name}")

    def signal(self, name: str, payload: Any = None) -> None:
        """Record `SignalReceived`, then deliver it (waking the run).

        `PayloadError` for a payload that cannot be encoded, `WorkflowNotFound`,
        `NotRunning` for an ended run; nothing is recorded in those cases.
        """
        self._engine._signal(self.workflow_id, name, payload)

    def query(self, name: str, *args: Any, timeout: float = 10) -> Any:
        """Ask the live run; records nothing. `UnknownQuery`, `QueryFailed`, `QueryTimeout`, `NotRunning`."""
        return self._engine._perform(
            "query", self.workflow_id, {"name": name, "args": list(args), "timeout": timeout},
            lambda runtime: self._engine._service(QueryService).query(self.workflow_id, name, args, timeout),
            timeout=timeout)

    def cancel(self, reason: str = "") -> None:
        """Request cancellation: `aion_actors.CancelledError` is raised at the run's current await.

        Records `WorkflowCancelRequested`; the run ends Cancelled unless its
        code catches the error and returns a value.
        """
        self._engine._perform("cancel", self.workflow_id, {"reason": reason},
                              lambda runtime: self._engine._service(SignalService).cancel(self.workflow_id, reason))

    def terminate(self, reason: str = "") -> None:
        """End the run now, with no cleanup: records `WorkflowCancelled(terminated=True)`.

        Unlike `cancel`, the workflow's code gets no chance to run `except` or
        `finally` blocks; its running activity attempts are told to stop and its
        children are ended per their parent close policy. `result()` raises
        `WorkflowCancelled` with `.terminated` true. Raises `NotRunning` for a
        run that already ended, `WorkflowNotFound` for an unknown id.
        """
        self._engine._perform("terminate", self.workflow_id, {"reason": reason},
                              lambda runtime: self._engine._service(SignalService).terminate(self.workflow_id, reason))

    def pause(self, reason: str = "") -> None:
        """Record `WorkflowPaused`: the run dispatches no new activity attempt until resumed.

        It still records signals and timer fires (its code may go on), and the
        engine skips it when recovering. Pausing a paused run records nothing.
        """
        self._engine._perform("pause", self.workflow_id, {"reason": reason},
                              lambda runtime: self._engine._service(SignalService).pause(self.workflow_id, reason))

    def resume(self) -> None:
        """Record `WorkflowResumed`: held-back activities are dispatched.

        Also the way out of a crash loop: a run whose actor kept dying is parked
        (Paused, with the reason) and tried again from its history on resume.
        """
        self._engine._perform("resume", self.workflow_id, {},
                              lambda runtime: self._engine._service(SignalService).resume(self.workflow_id))

    def history(self) -> list[ev.HistoryEvent]:
        """Every recorded event, decoded, in order."""
        history = self._engine._history(self.workflow_id)
        if not history:
            raise WorkflowNotFound(self.workflow_id)
        return history

    def describe(self) -> WorkflowDescription:
        """Status, run chain length, pending activities (with the queue and worker of those on task
        queues) and timers, and the failure if any."""
        summary = self._engine._summary(self.workflow_id)
        if summary is None:
            raise WorkflowNotFound(self.workflow_id)
        history = self._engine._history(self.workflow_id)
        with store_errors():
            timers = self._engine._store.timers_of(self.workflow_id)
            tasks = unfinished_tasks(self._engine._store, self.workflow_id)
        return describe(summary, history, timers, tasks)
