"""The engine actor: the root of the supervision tree; routes requests to each workflow's Recorder.

The tree (DESIGN.md): this actor -> one `supervisors.Supervisor` per
workflow type (simple_one_for_one) -> a Recorder per resident run, which
supervises the run actor -> its activity actors. A Recorder that crashes is
restarted by its type supervisor and rebuilds the run from the store; a run
actor that crashes is restarted by its Recorder, and parked past its restart
intensity; a type supervisor that gives up is started again here and its
runs resumed. This actor keeps what routing needs: which runs are resident
(and their Recorders' addresses), starts new ones, resumes running ones from
the store on recovery, and answers result waiters when a run closes.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from collections import OrderedDict, deque
from typing import Callable

from thespian.actors import Actor, ChildActorExited

from supervisors import Shutdown, StartChild

from .. import events as ev
from ..errors import Failure, NotRunning, WorkflowAlreadyExists, WorkflowNotFound
from ..seam import Residency
from .messages import (ArmTimer, Batch, BeginRun, ClientReply, DeliverToWorkflow, DisarmTimer, Fenced, InitEngine,
                       InitRecorder, QueryWorkflow, RecorderUp, RecordWorkflowEvent, Recover, ResolveWorkflow,
                       RunClosed, RunQuery, Housekeeping, Passivate, Passivated, SpawnChild, StartWorkflow,
                       TerminateActivity, TimersDue, WaitResult)
from .tree import TypeSupervisors

log = logging.getLogger("aion_actors.engine")

# Due timers handled per pass: the rest wait for the next pass, so a burst of
# fires does not hold back the heap (and everything else) for its whole length.
_TIMERS_PER_PASS = 16_384
_CLOSED_REMEMBERED = 4_096

RESIDENT, NON_RESIDENT, TERMINAL, UNKNOWN = (Residency.RESIDENT, Residency.NON_RESIDENT, Residency.TERMINAL,
                                             Residency.UNKNOWN)


class EngineActor(TypeSupervisors, Actor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.context = None
        self.client = None
        self.runs: OrderedDict[str, object] = OrderedDict()  # resident runs (their Recorders), LRU first
        self.coming: dict[str, list] = {}    # runs whose Recorder is starting: what to do once it is up
        self.type_of: dict[str, str] = {}    # resident run -> its workflow type
        self.supervisors: dict[str, object] = {}  # workflow type -> its supervisor
        self.supervisor_restarts: dict[str, object] = {}  # workflow type -> its RestartIntensity
        self.touched: dict[str, float] = {}
        self.loading: dict[str, list] = {}   # runs waiting for room, with what to do once resident
        self.admissions: deque = deque()     # (workflow id, make it resident), oldest first
        self.asked: set[str] = set()         # runs with a Passivate in flight
        self.waiters: dict[str, list[int]] = {}
        # Runs that closed here lately, with their outcome: a result() asked just after the run
        # closed (the usual case for short workflows) is answered without reading the store.
        self.closed_recently: OrderedDict[str, tuple] = OrderedDict()

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RecorderUp):
            self._recorder_up(msg.workflow_id, sender)
        elif isinstance(msg, ChildActorExited):
            self._supervisor_exited(msg.childAddress)
        elif isinstance(msg, Batch):
            self.client = sender
            for target, item in msg.items:
                if target is None:
                    self._handle(item)
                else:
                    self.send(target, item)
        elif isinstance(msg, InitEngine):
            self.ref = msg.context
            self.context = msg.context.get()
        else:
            self._handle(msg)

    def _handle(self, msg) -> None:
        handler = _HANDLERS.get(type(msg))
        if handler is not None:
            handler(self, msg)

    def _reply(self, corr, ok, value=None, reply_to=None) -> None:
        if corr is not None:
            self.send(reply_to or self.client, ClientReply(corr, ok, value))

    # -- residency -----------------------------------------------------------

    def residency(self, workflow_id: str) -> str:
        if workflow_id in self.runs:
            return RESIDENT
        if workflow_id in self.loading:
            return NON_RESIDENT
        summary = self.context.store_summary(workflow_id)
        if summary is None:
            return UNKNOWN
        return TERMINAL if summary.closed_at is not None else NON_RESIDENT

    def _resolve(self, msg: ResolveWorkflow) -> None:
        self._reply(msg.corr, True, self.residency(msg.workflow_id))

    # -- admission: at most max_resident runs have actors ----------------------

    def _admit(self, workflow_id: str, make_resident: Callable[[], None]) -> None:
        """Run `make_resident` now if there is room, else once a resident run closes or passivates."""
        if len(self.runs) < self.context.max_resident:
            make_resident()
            return
        self.admissions.append((workflow_id, make_resident))
        self._make_room()

    def _release(self) -> None:
        while self.admissions and len(self.runs) < self.context.max_resident:
            _, make_resident = self.admissions.popleft()
            make_resident()

    def _new_recorder(self, workflow_id: str, workflow_type: str, then: list) -> None:
        """Ask the type's supervisor for a Recorder; `then` runs once it is up (`_recorder_up`)."""
        self.runs[workflow_id] = None
        self.coming[workflow_id] = then
        self.type_of[workflow_id] = workflow_type
        self._touch(workflow_id)
        self.send(self._supervisor_of(workflow_type),
                  StartChild(message=InitRecorder(self.ref, workflow_id, self.myAddress)))

    def _recorder_up(self, workflow_id: str, recorder) -> None:
        if workflow_id not in self.runs:
            self.send(recorder, Shutdown())  # dropped while it started (or restarted): not wanted
            return
        self.runs[workflow_id] = recorder
        for then in self.coming.pop(workflow_id, ()):
            then(recorder)

    def _with_recorder(self, workflow_id: str, corr, then: Callable[[object], None], reply_to=None) -> None:
        """Call `then(recorder)` once the run is resident, loading it by replay if need be."""
        if workflow_id in self.runs:
            self._touch(workflow_id)
            recorder = self.runs[workflow_id]
            if recorder is None:
                self.coming[workflow_id].append(then)
            else:
                then(recorder)
            return
        if workflow_id in self.loading:
            self.loading[workflow_id].append(then)
            return
        where = self.residency(workflow_id)
        if where == UNKNOWN:
            self._reply(corr, False, WorkflowNotFound(workflow_id), reply_to)
        elif where == TERMINAL:
            self._reply(corr, False, NotRunning(workflow_id, self.context.store_summary(workflow_id).status), reply_to)
        else:
            self.loading[workflow_id] = [then]
            self._admit(workflow_id, lambda: self._load(workflow_id))

    def _load(self, workflow_id: str) -> None:
        """Make a durable run resident: a Recorder that replays it from the store."""
        waiting = self.loading.pop(workflow_id, [])
        if workflow_id in self.runs:
            for then in waiting:
                self._with_recorder(workflow_id, None, then)
            return
        summary = self.context.store_summary(workflow_id)
        if summary is None or summary.closed_at is not None:
            return  # ended (or vanished) while it waited for room
        self._new_recorder(workflow_id, summary.workflow_type, waiting)

    def _touch(self, workflow_id: str) -> None:
        self.runs.move_to_end(workflow_id)
        self.asked.discard(workflow_id)
        self.touched[workflow_id] = time.monotonic()

    # -- requests ------------------------------------------------------------

    def _start(self, msg: StartWorkflow) -> None:
        # Only resident runs are checked here; for the others the store's create
        # (expected seq 0) is the arbiter, and its conflict becomes WorkflowAlreadyExists.
        if msg.workflow_id in self.runs:
            self._reply(msg.corr, False, WorkflowAlreadyExists(msg.workflow_id))
            return
        begin = BeginRun(msg.start, msg.corr, self.client)
        self._admit(msg.workflow_id, lambda: self._new_recorder(
            msg.workflow_id, msg.start.workflow_type, [lambda recorder: self.send(recorder, begin)]))

    def _deliver(self, msg: DeliverToWorkflow) -> None:
        # A run signalling another gives its own address: the answer goes to it, not to the client.
        forward = DeliverToWorkflow(msg.corr, msg.workflow_id, msg.event, msg.reply_to or self.client,
                                    msg.observed_at)
        self._with_recorder(msg.workflow_id, msg.corr, lambda recorder: self.send(recorder, forward),
                            forward.reply_to)

    def _query(self, msg: QueryWorkflow) -> None:
        forward = RunQuery(msg.corr, msg.name, msg.args, self.client)
        self._with_recorder(msg.workflow_id, msg.corr, lambda recorder: self.send(recorder, forward))

    def _record(self, msg: RecordWorkflowEvent) -> None:
        forward = RecordWorkflowEvent(msg.corr, msg.workflow_id, msg.event, msg.reply_to or self.client)
        self._with_recorder(msg.workflow_id, msg.corr, lambda recorder: self.send(recorder, forward))

    def _terminate_activity(self, msg: TerminateActivity) -> None:
        if msg.workflow_id in self.runs:
            self._with_recorder(msg.workflow_id, None, lambda recorder: self.send(recorder, msg))

    def _arm(self, msg: ArmTimer) -> None:
        self.context.wheel.arm(msg.workflow_id, msg.timer_id, msg.fire_at)

    def _disarm(self, msg: DisarmTimer) -> None:
        if msg.timer_id is None:
            self.context.wheel.disarm_workflow(msg.workflow_id)
        else:
            self.context.wheel.disarm(msg.workflow_id, msg.timer_id)

    def _wait(self, msg: WaitResult) -> None:
        if msg.workflow_id in self.runs:
            self.waiters.setdefault(msg.workflow_id, []).append(msg.corr)
            return
        closed = self.closed_recently.get(msg.workflow_id)
        if closed is not None:
            self._reply(msg.corr, True, closed)
            return
        where = self.residency(msg.workflow_id)
        if where == UNKNOWN:
            self._reply(msg.corr, False, WorkflowNotFound(msg.workflow_id))
        elif where == TERMINAL:
            self._reply(msg.corr, True)
        else:
            self.waiters.setdefault(msg.workflow_id, []).append(msg.corr)

    def _recover(self, msg: Recover) -> None:
        resumed = 0
        for summary in self.context.list_active():
            if summary.workflow_id in self.runs or summary.status == "paused":
                continue
            self._resume(summary.workflow_id)
            resumed += 1
        for row in self.context.all_timers():
            self.context.wheel.arm(row.workflow_id, row.timer_id, row.fire_at)
        self._reply(msg.corr, True, resumed)

    def _resume(self, workflow_id: str) -> None:
        """Make a running workflow resident (replaying it), as soon as there is room."""
        self._with_recorder(workflow_id, None, lambda recorder: None)

    def _timers_due(self, msg: TimersDue) -> None:
        # Every fire of one pass is recorded at the moment the pass saw it due: they share
        # one group commit anyway, and the runs' reactions follow in the same cascade.
        now = self.context.clock.time()
        observed = datetime.fromtimestamp(now, timezone.utc)
        for workflow_id, timer_id in self.context.wheel.pop_due(now, limit=_TIMERS_PER_PASS):
            self._deliver(DeliverToWorkflow(None, workflow_id, ev.TimerFired(timer_id), observed_at=observed))

    def _housekeeping(self, msg: Housekeeping) -> None:
        """Passivate runs idle past the timeout, and the least recently used past the cap.

        Only a run that waits on deliveries (signals, timers, children) agrees to go;
        its state is rebuilt by replay when something arrives for it.
        """
        self.asked.clear()  # a run that said no last time may be idle now
        self._make_room()

    def _make_room(self) -> None:
        """Ask the least recently used runs to passivate: the idle ones, and enough for the cap.

        Runs already asked are skipped, so admitting many runs at once costs one pass each
        over the few runs it asks, not over every resident run.
        """
        idle_before = time.monotonic() - self.context.idle_timeout
        excess = len(self.runs) + len(self.admissions) - self.context.max_resident - len(self.asked)
        for workflow_id, recorder in self.runs.items():
            if excess <= 0 and self.touched.get(workflow_id, 0) > idle_before:
                break
            if workflow_id in self.asked or recorder is None:
                continue
            excess -= 1
            self.asked.add(workflow_id)
            self.send(recorder, Passivate(workflow_id))

    def _passivated(self, msg: Passivated) -> None:
        self._drop(msg.workflow_id)

    def _drop(self, workflow_id: str) -> None:
        """The run no longer has actors here: stop its Recorder (and so its run), admit another."""
        self.touched.pop(workflow_id, None)
        self.asked.discard(workflow_id)
        self.type_of.pop(workflow_id, None)
        self.coming.pop(workflow_id, None)
        recorder = self.runs.pop(workflow_id, None)
        if recorder is not None:
            self.send(recorder, Shutdown())  # exits "shutdown": its supervisor forgets it, no restart
        self._release()

    def _closed(self, msg: RunClosed) -> None:
        self._drop(msg.workflow_id)
        if msg.outcome is not None:
            self.closed_recently[msg.workflow_id] = (msg.workflow_type, msg.outcome)
            if len(self.closed_recently) > _CLOSED_REMEMBERED:
                self.closed_recently.popitem(last=False)
        for corr in self.waiters.pop(msg.workflow_id, []):
            self._reply(corr, True, (msg.workflow_type, msg.outcome))
        if msg.parent_workflow_id is not None and msg.outcome is not None:
            self._tell_parent(msg.parent_workflow_id, msg.workflow_id, msg.outcome)

    def _tell_parent(self, parent_id: str, child_id: str, outcome: ev.Event) -> None:
        if self.residency(parent_id) in (RESIDENT, NON_RESIDENT):
            self._deliver(DeliverToWorkflow(None, parent_id, child_outcome(child_id, outcome)))

    def _spawn_child(self, msg: SpawnChild) -> None:
        where = self.residency(msg.child_workflow_id)
        begin = BeginRun(ev.WorkflowStarted(msg.workflow_type, msg.input, parent_workflow_id=msg.parent_workflow_id))
        if where == UNKNOWN and msg.child_workflow_id not in self.loading:
            # Until it is admitted, deliveries for the child (a cancel from its parent) wait for it.
            self.loading[msg.child_workflow_id] = []
            self._admit(msg.child_workflow_id, lambda: self._start_child(msg.child_workflow_id, msg.workflow_type,
                                                                          begin))
            if self._parent_took_it_down(msg):  # its cancel may have overtaken this spawn, and been lost
                self._deliver(DeliverToWorkflow(None, msg.child_workflow_id, ev.WorkflowCancelRequested(
                    f"parent {msg.parent_workflow_id!r} ended", msg.parent_workflow_id)))
        elif where in (RESIDENT, NON_RESIDENT):
            # Its Recorder tells this parent's re-spawn from another's use of the id (WorkflowAlreadyExists).
            self._with_recorder(msg.child_workflow_id, None, lambda recorder: self.send(recorder, begin))
        elif where == TERMINAL:
            history = self.context.read_history(msg.child_workflow_id)
            started = next(e.event for e in reversed(history) if isinstance(e.event, ev.WorkflowStarted))
            if started.parent_workflow_id == msg.parent_workflow_id:
                # The child ended while its parent was down: give the parent the recorded outcome now.
                self._tell_parent(msg.parent_workflow_id, msg.child_workflow_id, history[-1].event)
            else:
                taken = WorkflowAlreadyExists(msg.child_workflow_id)
                self._deliver(DeliverToWorkflow(None, msg.parent_workflow_id, ev.ChildWorkflowStartFailed(
                    msg.child_workflow_id, Failure(type(taken).__name__, str(taken)))))

    def _parent_took_it_down(self, msg: SpawnChild) -> bool:
        """Whether the parent already ended, linked to this child (messages between processes may
        overtake each other): then the child must be cancelled, not left running as an orphan."""
        if msg.parent_workflow_id in self.runs or self.residency(msg.parent_workflow_id) != TERMINAL:
            return False
        policy = next((e.event.parent_close_policy for e in self.context.read_history(msg.parent_workflow_id)
                       if isinstance(e.event, ev.ChildWorkflowStarted)
                       and e.event.child_workflow_id == msg.child_workflow_id), "abandon")
        return policy != "abandon"

    def _start_child(self, child_id: str, workflow_type: str, begin: BeginRun) -> None:
        self._new_recorder(child_id, workflow_type,
                           [lambda recorder: self.send(recorder, begin)] + self.loading.pop(child_id, []))

    def _fenced(self, msg: Fenced) -> None:
        self._drop(msg.workflow_id)


_HANDLERS = {
    StartWorkflow: EngineActor._start,
    DeliverToWorkflow: EngineActor._deliver,
    QueryWorkflow: EngineActor._query,
    WaitResult: EngineActor._wait,
    ResolveWorkflow: EngineActor._resolve,
    Recover: EngineActor._recover,
    TimersDue: EngineActor._timers_due,
    RunClosed: EngineActor._closed,
    Fenced: EngineActor._fenced,
    RecordWorkflowEvent: EngineActor._record,
    TerminateActivity: EngineActor._terminate_activity,
    ArmTimer: EngineActor._arm,
    SpawnChild: EngineActor._spawn_child,
    Housekeeping: EngineActor._housekeeping,
    Passivated: EngineActor._passivated,
    DisarmTimer: EngineActor._disarm,
}


def child_outcome(child_id: str, terminal: ev.Event) -> ev.Event:
    """The event a parent records when its child's run ended with `terminal`."""
    if isinstance(terminal, ev.WorkflowCompleted):
        return ev.ChildWorkflowCompleted(child_id, terminal.result)
    if isinstance(terminal, ev.WorkflowFailed):
        return ev.ChildWorkflowFailed(child_id, terminal.failure)
    if isinstance(terminal, ev.WorkflowCancelled):
        return ev.ChildWorkflowCancelled(child_id, terminal.reason)
    return ev.ChildWorkflowFailed(child_id, Failure("WorkflowTimedOut", f"child {child_id!r} timed out"))
