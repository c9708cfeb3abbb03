"""The engine actor: the root of the supervision tree; routes requests to each workflow's Recorder.

The tree (DESIGN.md): this actor -> one `supervisors.Supervisor` per
workflow type (simple_one_for_one) -> a Recorder per resident run, which
supervises the run actor -> its activity actors. A Recorder that crashes is
restarted by its type supervisor and rebuilds the run from the store; a run
actor that crashes is restarted by its Recorder, and parked past its restart
intensity; a type supervisor that gives up is started again here
(`tree.TypeSupervisors`) and its runs made resident again. Which runs are
resident, which wait for room and who waits for a result is kept in a
`residency.ResidencyBook`, whose rules are plain functions of its data; this
actor carries its answers out: it starts Recorders, makes running workflows
resident from the store on recovery, and answers result waiters when a run
closes. It serves only the shards its node owns (`shard_handover`): a request
for another node's workflow is answered `ShardMoved` (the client routes it),
and a run's message for one goes through the node's `routing.Router`."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable

from thespian.actors import Actor, ChildActorExited

from supervisors import Shutdown, StartChild

from .. import events as ev
from ..errors import Failure, NotRunning, ShardMoved, WorkflowAlreadyExists, WorkflowNotFound
from ..seam import Residency
from .messages import (ArmTimer, Batch, BeginRun, ClientReply, DeliverToWorkflow, DisarmTimer, Drain, Fenced,
                       Housekeeping, InitEngine, InitRecorder, Passivate, Passivated, QueryWorkflow, RecorderUp,
                       Recover, ResolveWorkflow, RunClosed, RunQuery, ShardsGained, ShardsLost, SpawnChild,
                       StartWorkflow, TerminateActivity, TimersDue, WaitResult)
from .residency import Asked, ResidencyBook, Then
from .shard_handover import ShardHandover
from .tree import TypeSupervisors

log = logging.getLogger("aion_actors.engine")

# Due timers handled per pass: the rest wait for the next pass, so a burst of
# fires does not hold back the heap (and everything else) for its whole length.
_TIMERS_PER_PASS = 16_384
_CLOSED_REMEMBERED = 4_096

RESIDENT, NON_RESIDENT, TERMINAL, UNKNOWN = Residency


def _nothing(recorder) -> None:
    """What a run made resident for its own sake (recovery, a child) does once its Recorder is up."""


class EngineActor(ShardHandover, Actor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.context = None
        self.client = None
        self.book: ResidencyBook | None = None
        self.type_supervisors = TypeSupervisors(self.createActor, self.send)
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
            self.book = ResidencyBook(self.context.config.max_resident, self.context.config.idle_timeout)
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
        if self.book.is_resident(workflow_id):
            return RESIDENT
        if self.book.is_waiting(workflow_id):
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
        if self.book.has_room():
            make_resident()
            return
        self.book.queue(workflow_id, make_resident)
        self._ask_to_passivate()

    def _admit_queued(self) -> None:
        while (make_resident := self.book.admit_next()) is not None:
            make_resident()

    def _new_recorder(self, workflow_id: str, workflow_type: str, on_up: list[Then]) -> None:
        """Ask the type's supervisor for a Recorder; `on_up` runs once it is up (`_recorder_up`)."""
        self.book.add(workflow_id, workflow_type, on_up, time.monotonic())
        self.send(self.type_supervisors.of(workflow_type),
                  StartChild(message=InitRecorder(self.ref, workflow_id, self.myAddress)))

    def _recorder_up(self, workflow_id: str, recorder) -> None:
        on_up = self.book.recorder_up(workflow_id, recorder)
        if on_up is None:
            self.send(recorder, Shutdown())  # dropped while it started (or restarted): not wanted
            return
        for then in on_up:
            then(recorder)

    def _via_recorder(self, workflow_id: str, corr, then: Then, reply_to=None) -> None:
        """Call `then(recorder)` once the run is resident, replaying it into residence if need be."""
        if self.book.is_resident(workflow_id):
            run = self.book.touch(workflow_id, time.monotonic())
            if run.recorder is None:
                run.on_up.append(then)
            else:
                then(run.recorder)
            return
        if corr is not None:
            then = Asked(then, corr, reply_to)
        if self.book.is_waiting(workflow_id):
            self.book.wait_for_room(workflow_id, then)
            return
        where = self.residency(workflow_id)
        if where == UNKNOWN:
            self._reply(corr, False, WorkflowNotFound(workflow_id), reply_to)
        elif where == TERMINAL:
            self._reply(corr, False, NotRunning(workflow_id, self.context.store_summary(workflow_id).status), reply_to)
        else:
            self.book.wait_for_room(workflow_id, then)
            self._admit(workflow_id, lambda: self._replay(workflow_id))

    def _replay(self, workflow_id: str) -> None:
        """Make a durable run resident: a Recorder that replays it from the store."""
        waiting = self.book.take_waiting(workflow_id)
        if self.book.is_resident(workflow_id):
            for then in waiting:
                self._via_recorder(workflow_id, None, then)
            return
        if not self.context.ownership.owns(workflow_id):
            self._answer_moved(workflow_id, waiting)  # its shard moved while it waited for room
            return
        summary = self.context.store_summary(workflow_id)
        if summary is None or summary.closed_at is not None:
            # Ended (another engine on the store ran it) or vanished while it waited for room:
            # answer as if asked now, or a run awaiting its signal_external would wait until rebuilt.
            error = WorkflowNotFound(workflow_id) if summary is None else NotRunning(workflow_id, summary.status)
            for asked in waiting:
                if isinstance(asked, Asked):
                    self._reply(asked.corr, False, error, asked.reply_to)
            return
        self._new_recorder(workflow_id, summary.workflow_type, waiting)

    def _make_resident(self, workflow_id: str) -> None:
        """Make a running workflow resident (replaying it), as soon as there is room."""
        self._via_recorder(workflow_id, None, _nothing)

    def _supervisor_exited(self, address) -> None:
        """A type supervisor gave up (its Recorders kept crashing): start it again, make its runs resident."""
        workflow_type, restart = self.type_supervisors.exited(address, time.monotonic())
        if workflow_type is None:
            return
        lost = self.book.remove_type(workflow_type)
        if not restart:
            log.error("the supervisor of workflow type %r keeps failing; its runs wait for the next "
                      "delivery or restart of the engine", workflow_type)
            self._admit_queued()
            return
        log.error("the supervisor of workflow type %r exited; starting it again and resuming %d runs",
                  workflow_type, len(lost))
        self._admit_queued()
        for workflow_id, on_up in lost:
            self._make_resident(workflow_id)
            for then in on_up:
                self._via_recorder(workflow_id, None, then)

    # -- requests ------------------------------------------------------------

    def _start(self, msg: StartWorkflow) -> None:
        # Only resident runs are checked here; for the others the store's create
        # (expected seq 0) is the arbiter, and its conflict becomes WorkflowAlreadyExists.
        if self.book.is_resident(msg.workflow_id):
            self._reply(msg.corr, False, WorkflowAlreadyExists(msg.workflow_id))
            return
        if not self.context.ownership.owns(msg.workflow_id):
            self._reply(msg.corr, False, ShardMoved(msg.workflow_id))  # the client sends it to the owner
            return
        begin = BeginRun(msg.start, msg.corr, self.client)
        self._admit(msg.workflow_id, lambda: self._new_recorder(
            msg.workflow_id, msg.start.workflow_type, [lambda recorder: self.send(recorder, begin)]))

    def _deliver(self, msg: DeliverToWorkflow) -> None:
        if not self.context.ownership.owns(msg.workflow_id):
            if msg.corr is not None and msg.reply_to is None:
                self._reply(msg.corr, False, ShardMoved(msg.workflow_id))  # a client's: it routes the call itself
            else:  # a run's (a signal to another workflow, a child's outcome): this node routes it
                self.context.router.deliver(msg.workflow_id, msg.event, msg.reply_to, msg.corr)
            return
        # A run signalling another gives its own address: the answer goes to it, not to the client.
        forward = DeliverToWorkflow(msg.corr, msg.workflow_id, msg.event, msg.reply_to or self.client,
                                    msg.observed_at)
        self._via_recorder(msg.workflow_id, msg.corr, lambda recorder: self.send(recorder, forward),
                           forward.reply_to)

    def _query(self, msg: QueryWorkflow) -> None:
        if not self.context.ownership.owns(msg.workflow_id):
            self._reply(msg.corr, False, ShardMoved(msg.workflow_id))
            return
        forward = RunQuery(msg.corr, msg.name, msg.args, self.client)
        self._via_recorder(msg.workflow_id, msg.corr, lambda recorder: self.send(recorder, forward))

    def _terminate_activity(self, msg: TerminateActivity) -> None:
        if self.book.is_resident(msg.workflow_id):
            self._via_recorder(msg.workflow_id, None, lambda recorder: self.send(recorder, msg))

    def _arm(self, msg: ArmTimer) -> None:
        self.context.wheel.arm(msg.workflow_id, msg.timer_id, msg.fire_at)

    def _disarm(self, msg: DisarmTimer) -> None:
        if msg.timer_id is None:
            self.context.wheel.disarm_workflow(msg.workflow_id)
        else:
            self.context.wheel.disarm(msg.workflow_id, msg.timer_id)

    def _wait(self, msg: WaitResult) -> None:
        if not self.context.ownership.owns(msg.workflow_id):
            self._reply(msg.corr, True)  # another node runs it: the client follows it in the store
            return
        if self.book.is_resident(msg.workflow_id):
            self.book.add_result_waiter(msg.workflow_id, msg.corr)
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
            self.book.add_result_waiter(msg.workflow_id, msg.corr)

    def _recover(self, msg: Recover) -> None:
        self._reply(msg.corr, True, self._take_over(None))

    def _timers_due(self, msg: TimersDue) -> None:
        # Every fire of one pass is recorded at the moment the pass saw it due: they share
        # one group commit anyway, and the runs' reactions follow in the same cascade.
        now = self.context.clock.time()
        observed = datetime.fromtimestamp(now, timezone.utc)
        owns = self.context.ownership.owns
        for workflow_id, timer_id in self.context.wheel.pop_due(now, limit=_TIMERS_PER_PASS):
            if not owns(workflow_id):
                continue  # armed before its shard moved: the new owner fires it from the store
            self._deliver(DeliverToWorkflow(None, workflow_id, ev.TimerFired(timer_id), observed_at=observed))

    def _housekeeping(self, msg: Housekeeping) -> None:
        """Passivate runs idle past the timeout, and the least recently used past the cap.

        Only a run that waits on deliveries (signals, timers, children) agrees to go;
        its state is rebuilt by replay when something arrives for it.
        """
        self.book.forget_asked()  # a run that said no last time may be idle now
        self.context.resident_runs = self.book.resident_count()
        self._ask_to_passivate()

    def _ask_to_passivate(self) -> None:
        for workflow_id, recorder in self.book.to_passivate(time.monotonic()):
            self.send(recorder, Passivate(workflow_id))

    def _passivated(self, msg: Passivated) -> None:
        self._drop(msg.workflow_id)

    def _drop(self, workflow_id: str) -> None:
        """The run no longer has actors here: stop its Recorder (and so its run), admit another."""
        run = self.book.remove(workflow_id)
        if run is not None and run.recorder is not None:
            self.send(run.recorder, Shutdown())  # exits "shutdown": its supervisor forgets it, no restart
        self._admit_queued()

    def _closed(self, msg: RunClosed) -> None:
        self._drop(msg.workflow_id)
        if msg.outcome is not None:
            self.closed_recently[msg.workflow_id] = (msg.workflow_type, msg.outcome)
            if len(self.closed_recently) > _CLOSED_REMEMBERED:
                self.closed_recently.popitem(last=False)
        for corr in self.book.take_result_waiters(msg.workflow_id):
            self._reply(corr, True, (msg.workflow_type, msg.outcome))
        if msg.parent_workflow_id is not None and msg.outcome is not None:
            self._tell_parent(msg.parent_workflow_id, msg.workflow_id, msg.outcome)

    def _tell_parent(self, parent_id: str, child_id: str, outcome: ev.Event) -> None:
        if self.residency(parent_id) in (RESIDENT, NON_RESIDENT):
            self._deliver(DeliverToWorkflow(None, parent_id, ev.child_outcome(child_id, outcome)))

    def _spawn_child(self, msg: SpawnChild) -> None:
        if not self.context.ownership.owns(msg.child_workflow_id):
            self.context.router.spawn(msg)  # the child's shard is another node's: its owner starts it
            return
        where = self.residency(msg.child_workflow_id)
        begin = BeginRun(ev.WorkflowStarted(msg.workflow_type, msg.input, parent_workflow_id=msg.parent_workflow_id,
                                            parent_run_id=msg.parent_run_id))
        if where == UNKNOWN and not self.book.is_waiting(msg.child_workflow_id):
            # Until it is admitted, deliveries for the child (a cancel from its parent) wait for it.
            self.book.wait_for_room(msg.child_workflow_id)
            self._admit(msg.child_workflow_id, lambda: self._start_child(msg.child_workflow_id, msg.workflow_type,
                                                                          begin))
            if self._parent_took_it_down(msg):  # its cancel may have overtaken this spawn, and been lost
                self._deliver(DeliverToWorkflow(None, msg.child_workflow_id, ev.WorkflowCancelRequested(
                    f"parent {msg.parent_workflow_id!r} ended", msg.parent_workflow_id)))
        elif where in (RESIDENT, NON_RESIDENT):
            # Its Recorder tells this parent's re-spawn from another's use of the id (WorkflowAlreadyExists).
            self._via_recorder(msg.child_workflow_id, None, lambda recorder: self.send(recorder, begin))
        elif where == TERMINAL:
            history = self.context.read_history(msg.child_workflow_id)
            started = next(e.event for e in reversed(history) if isinstance(e.event, ev.WorkflowStarted))
            if (started.parent_workflow_id, started.parent_run_id) in (
                    (msg.parent_workflow_id, None), (msg.parent_workflow_id, msg.parent_run_id)):
                # The child ended while its parent was down: give the parent the recorded outcome now.
                self._tell_parent(msg.parent_workflow_id, msg.child_workflow_id, history[-1].event)
            else:
                taken = WorkflowAlreadyExists(msg.child_workflow_id)
                self._deliver(DeliverToWorkflow(None, msg.parent_workflow_id, ev.ChildWorkflowStartFailed(
                    msg.child_workflow_id, Failure(type(taken).__name__, str(taken)))))

    def _parent_took_it_down(self, msg: SpawnChild) -> bool:
        """Whether the parent already ended, linked to this child (messages between processes may
        overtake each other): then the child must be cancelled, not left running as an orphan."""
        if self.book.is_resident(msg.parent_workflow_id) or self.residency(msg.parent_workflow_id) != TERMINAL:
            return False
        policy = next((e.event.parent_close_policy for e in self.context.read_history(msg.parent_workflow_id)
                       if isinstance(e.event, ev.ChildWorkflowStarted)
                       and e.event.child_workflow_id == msg.child_workflow_id), "abandon")
        return policy != "abandon"

    def _start_child(self, child_id: str, workflow_type: str, begin: BeginRun) -> None:
        self._new_recorder(child_id, workflow_type,
                           [lambda recorder: self.send(recorder, begin)] + self.book.take_waiting(child_id))

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
    TerminateActivity: EngineActor._terminate_activity,
    ArmTimer: EngineActor._arm,
    SpawnChild: EngineActor._spawn_child,
    Housekeeping: EngineActor._housekeeping,
    Passivated: EngineActor._passivated,
    DisarmTimer: EngineActor._disarm,
    ShardsGained: EngineActor._shards_gained,
    ShardsLost: EngineActor._shards_lost,
    Drain: EngineActor._drain,
}
