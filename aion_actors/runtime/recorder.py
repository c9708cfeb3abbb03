"""The Recorder: the single writer of one workflow's history.

Every event of a workflow is appended here, with the next seq it expects
(optimistic concurrency), so a second writer is caught as a
`SequenceConflict` and fenced — never retried blindly. It also gates what
may still be recorded: nothing once the run has ended, no fire for a timer
that is no longer pending. Record before acting: a delivered event reaches
the run only after it is committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from thespian.actors import ChildActorExited

from stores.base import Append, TimerRow, WorkflowState
from supervisors import LinkedActor

from .. import events as ev
from .. import status as st
from ..errors import Failure, NotRunning, SequenceConflict, ShardMoved, WorkflowAlreadyExists
from .context import store_errors
from .deadlines import is_attempt_deadline
from .messages import (AppendDone, AppendRequest, BeginRun, ClientReply, Committed, DeadlinePassed, DeliverToWorkflow,
                       Fenced, InitRecorder, Passivate, QueryWorkflow, Record, Recorded, RecorderUp,
                       Resolved, RunClosed, RunCrashed, RunIdle, RunQuery, TerminateActivity)
from .process_watch import ProcessUp, watch_child_process
from .run_supervision import ParkRun, RunSupervision

log = logging.getLogger("aion_actors.recorder")


# What each append in flight is for, and so what its commit (or failure) does.

@dataclass(frozen=True, slots=True)
class StartRun:
    """A `BeginRun`'s `WorkflowStarted`: once committed, answer the starter and spawn the run."""

    corr: int | None
    reply_to: Any


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's own `Record` (token `token`): its seqs go back at once, `Committed` once committed."""

    run_actor: Any
    token: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event from outside (signal, timer fire, cancel request, child outcome): the run gets it
    once committed, then the sender is answered."""

    corr: int | None
    reply_to: Any


Purpose = StartRun | RunRecord | Delivery | ParkRun


@dataclass(frozen=True, slots=True)
class InFlight:
    purpose: Purpose
    recorded: tuple[ev.HistoryEvent, ...]


class Recorder(RunSupervision, LinkedActor):
    """One per resident workflow, a child of its type's supervisor, parent of the run actor.

    It supervises the run actor itself (`RunSupervision`: restart by replay,
    park past the intensity, passivation) because only it knows which
    appends are in flight.
    """

    exit_grace = None  # its supervisor stops it at once; no timer per exit (see LinkedActor)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workflow_id = ""
        self.last_seq = 0
        self.status: st.WorkflowStatus | None = None
        self.workflow_type = ""
        self.run_id = ""
        self.open_timers: set[str] = set()
        self.open_children: dict[str, str] = {}
        self.parent_workflow_id: str | None = None
        self.parent_run_id: str | None = None  # None: started by a parent that did not record its run
        self.fenced = False
        self.pending: dict[int, InFlight] = {}
        self.next_token = 0
        self.cancel_requested = False  # this run's cancellation was requested (requests after it record nothing)
        self.last_recorded_at = datetime.min.replace(tzinfo=timezone.utc)
        self.awaiting_writer = False
        self.to_write: list[AppendRequest] = []
        self.unstarted: list[ev.HistoryEvent] = []  # appended while no run actor was there to apply them
        self.last_signal_seq = 0
        self.signal_keys: set[str] = set()  # of this workflow's keyed signals: each is recorded once
        self._init_supervision()

    # -- setup -------------------------------------------------------------

    def receive(self, msg, sender):
        if self.passivated and isinstance(msg, (DeliverToWorkflow, RunQuery)):
            if isinstance(msg, RunQuery):
                msg = QueryWorkflow(msg.corr, self.workflow_id, msg.name, msg.args)
            self.send(self.engine, msg)  # it went idle meanwhile: the engine revives it and re-routes
            return
        handler = _HANDLERS.get(type(msg))
        if handler is not None:
            handler(self, msg, sender)

    def _init(self, msg: InitRecorder, sender) -> None:
        self.ref = msg.context
        self.context = msg.context.get()
        self.workflow_id = msg.workflow_id
        self.engine = msg.engine
        history = self.context.read_history(self.workflow_id)
        for event in history:
            self._track(event)
        if history and not self.status.is_terminal:
            self._spawn_run(history)
        self.send(self.engine, RecorderUp(self.workflow_id))

    def _begin(self, msg: BeginRun, sender) -> None:
        parent_id = msg.start.parent_workflow_id
        if self.last_seq and parent_id is not None:
            # A parent spawning its child: the run here is that child (re-spawned after a crash of
            # the parent, spawning is idempotent), or another's under the same id, which it must not get
            # (a later run of the same parent is another: the id stays taken while the child lives).
            if parent_id != self.parent_workflow_id or self.parent_run_id not in (None, msg.start.parent_run_id):
                self._child_start_failed(parent_id)
            return
        if self.last_seq:  # the id is taken (by a run that is not resident here)
            self._reply(msg.reply_to, msg.corr, False, WorkflowAlreadyExists(self.workflow_id))
            self.send(self.engine, Fenced(self.workflow_id, "already exists"))
            return
        self._append((msg.start,), StartRun(msg.corr, msg.reply_to))

    def _child_start_failed(self, parent_id: str) -> None:
        """Tell the parent its child could not start under this id: it is already taken."""
        taken = WorkflowAlreadyExists(self.workflow_id)
        self.send(self.engine, DeliverToWorkflow(None, parent_id, ev.ChildWorkflowStartFailed(
            self.workflow_id, Failure(type(taken).__name__, str(taken)))))

    # -- appending -----------------------------------------------------------

    def _envelope(self, events: tuple[ev.Event, ...], at: datetime | None = None) -> tuple[ev.HistoryEvent, ...]:
        now = self.context.clock.now() if at is None else max(at, self.last_recorded_at)
        out = []
        run_id = self.run_id
        for offset, event in enumerate(events, start=1):
            if isinstance(event, ev.WorkflowStarted) and self.last_seq == 0 and offset == 1:
                run_id = self.context.new_run_id()
            out.append(ev.HistoryEvent(self.last_seq + offset, now, self.workflow_id, run_id, event))
            if isinstance(event, ev.WorkflowContinuedAsNew):
                run_id = event.next_run_id
        return tuple(out)

    def _append(self, events: tuple[ev.Event, ...], purpose: Purpose, at: datetime | None = None) -> None:
        if self.fenced:
            return
        recorded = self._envelope(events, at)
        expected = self.last_seq
        schedule, cancel = [], []
        was_open = set(self.open_timers)
        for event in recorded:
            self._track(event)
        for event in recorded:
            e = event.event
            if isinstance(e, ev.TimerStarted):
                schedule.append(TimerRow(self.workflow_id, e.timer_id, e.fire_at))
            elif isinstance(e, (ev.TimerFired, ev.TimerCancelled)):
                cancel.append(e.timer_id)
        run_ended = any(isinstance(e.event, ev.WorkflowContinuedAsNew) for e in recorded)
        if run_ended or (self.status is not None and self.status.is_terminal):
            # An ended run's timers never fire: drop its rows, including any started in this append.
            cancel = sorted(was_open | {t.timer_id for t in schedule} | set(cancel))
            schedule = []
        state = WorkflowState(self.workflow_type, self.status.value if self.status else "running",
                              closed=bool(self.status and self.status.is_terminal))
        fence = None
        if not self.context.ownership.exclusive:
            fence = self.context.ownership.fence(self.workflow_id)
            if fence is None:  # the shard moved: the store would refuse it; its new owner replays the run
                self._answer(purpose, False, ShardMoved(self.workflow_id))
                self._fence(ShardMoved(self.workflow_id))
                return
        token = self.next_token = self.next_token + 1
        self.pending[token] = InFlight(purpose, recorded)
        append = Append(self.workflow_id, expected, tuple(ev.to_stored(e) for e in recorded), state,
                        tuple(schedule), tuple(cancel), fence)
        self._to_writer(AppendRequest(token, append))
        # The run's own records come back as soon as their seqs are assigned, so its code
        # may run ahead and its next commands join the same commit; their effects wait for
        # Committed. What arrives from outside (signals, timer fires, cancel requests, child
        # outcomes) is delivered only once committed: record, then deliver. The run applies
        # both in seq order.
        if isinstance(purpose, RunRecord):
            self.send(purpose.run_actor, Recorded(purpose.token, recorded))

    def _track(self, event: ev.HistoryEvent) -> None:
        self.last_seq = event.seq
        self.last_recorded_at = event.recorded_at
        self.run_id = event.run_id
        e = event.event
        self.status = st.apply(self.status, e)
        if isinstance(e, ev.WorkflowStarted):
            self.cancel_requested = False
            self.workflow_type = e.workflow_type
            self.parent_workflow_id = e.parent_workflow_id
            self.parent_run_id = e.parent_run_id
            self.open_timers.clear()
        elif isinstance(e, ev.WorkflowCancelRequested):
            self.cancel_requested = True
        elif isinstance(e, ev.SignalReceived):
            self.last_signal_seq = event.seq
            if e.key:
                self.signal_keys.add(e.key)
        elif isinstance(e, ev.ChildWorkflowStarted):
            self.open_children[e.child_workflow_id] = e.parent_close_policy
        elif isinstance(e, ev.CHILD_OUTCOMES):
            self.open_children.pop(e.child_workflow_id, None)
        elif isinstance(e, ev.TimerStarted):
            self.open_timers.add(e.timer_id)
        elif isinstance(e, (ev.TimerFired, ev.TimerCancelled)):
            self.open_timers.discard(e.timer_id)
        if self.status is not None and self.status.is_terminal:
            self.open_timers.clear()

    def _to_writer(self, request: AppendRequest) -> None:
        """Pipeline appends where the transport keeps order; elsewhere one at a time.

        In process, messages arrive in the order sent, so appends can follow each other
        before the first commits (and share its transaction). Between OS processes,
        Thespian's TCP transport may reorder them, and a later append arriving first
        would be a sequence conflict: so there each waits for the previous one's answer.
        """
        if self.context.driver_flushes:
            self.send(self.context.writer, request)
        elif self.awaiting_writer:
            self.to_write.append(request)
        else:
            self.awaiting_writer = True
            self.send(self.context.writer, request)

    def _append_done(self, msg: AppendDone, sender) -> None:
        if self.to_write:
            self.send(self.context.writer, self.to_write.pop(0))
        else:
            self.awaiting_writer = False
        done = self.pending.pop(msg.token)
        if msg.error is not None:
            self._append_failed(done, msg.error)
            return
        match done.purpose:
            case StartRun():
                self._answer(done.purpose, True, done.recorded[0].run_id)
                self._spawn_run(done.recorded + tuple(self.unstarted), fresh=True)
                self.unstarted.clear()
            case RunRecord(run_actor=run_actor, token=token):
                self.send(run_actor, Committed(token))
            case Delivery():
                self._deliver_committed(done.recorded)
                self._answer(done.purpose, True, None)
        if self.respawn_wanted and not self.pending:
            self._respawn()
        if self.status is not None and self.status.is_terminal and not self.pending:
            self.send(self.engine, RunClosed(self.workflow_id, done.recorded[-1].event,
                                             self.parent_workflow_id, self.workflow_type))

    def _deliver_committed(self, recorded: tuple[ev.HistoryEvent, ...]) -> None:
        for event in recorded:
            if self.run_actor is not None:
                self.send(self.run_actor, Resolved(event))
            elif isinstance(event.event, ev.WorkflowResumed) and self.parked:
                self._resumed_after_parking()
            else:
                self.unstarted.append(event)  # the run gets it with its history when it starts

    def _append_failed(self, done: InFlight, error: BaseException) -> None:
        if isinstance(done.purpose, StartRun) and isinstance(error, SequenceConflict):
            # Another engine created this workflow first: the id is taken, nothing else is wrong.
            self._answer(done.purpose, False, WorkflowAlreadyExists(self.workflow_id))
            if (parent_id := done.recorded[0].event.parent_workflow_id) is not None:
                self._child_start_failed(parent_id)
            self.send(self.engine, Fenced(self.workflow_id, "already exists"))
            return
        self._fence(error)
        self._answer(done.purpose, False, error)

    def _fence(self, error: BaseException) -> None:
        """A second writer (or a failing store): stop writing, stop the run, tell the engine."""
        if self.fenced:
            return
        self.fenced = True
        log.error("workflow %s fenced: %s", self.workflow_id, error)
        for in_flight in self.pending.values():
            self._answer(in_flight.purpose, False, error)
        self.pending.clear()
        self.to_write.clear()
        self.send(self.engine, Fenced(self.workflow_id, str(error)))

    def _answer(self, purpose: Purpose, ok: bool, value) -> None:
        """Answer whoever asked for an append (a start, a delivery); a run's own records have no asker."""
        if isinstance(purpose, (StartRun, Delivery)):
            self._reply(purpose.reply_to, purpose.corr, ok, value)

    def _reply(self, reply_to, corr, ok, value) -> None:
        if reply_to is not None and corr is not None:
            self.send(reply_to, ClientReply(corr, ok, value))

    # -- requests ------------------------------------------------------------

    def _record(self, msg: Record, sender) -> None:
        """Append the run's records in the order it sent them (its tokens count up from 1).

        Between OS processes Thespian may deliver two messages out of order; appending a
        later Record first would give its commands the earlier seqs, and the run, applying
        in seq order, would see its own commands swapped: a false NonDeterminismError.
        """
        if sender != self.run_actor:
            return  # from a run actor that is gone (crashed, passivated): stale
        self.records_waiting[msg.token] = msg
        while (record := self.records_waiting.pop(self.next_record, None)) is not None:
            self.next_record += 1
            if self.status is not None and self.status.is_terminal:
                continue  # the run ended: a late command records nothing
            self._append(self._carry_unseen_signals(record), RunRecord(sender, record.token))

    def _carry_unseen_signals(self, record: Record) -> tuple[ev.Event, ...]:
        """A run that continues as new never saw the signals recorded after what it had applied:
        record them again for the next run, in this same append (the run carries those it saw).

        Rare (a signal in the few moments the run's last step took), so they are looked up only
        then: in the store, and among the appends still in flight.
        """
        if self.last_signal_seq <= record.applied or not any(
                isinstance(e, ev.WorkflowContinuedAsNew) for e in record.events):
            return record.events
        with store_errors():
            stored = self.context.store.read_history_from(self.workflow_id, record.applied + 1)
        unseen = {e.seq: e for e in map(ev.from_stored, stored)}
        unseen.update((e.seq, e) for f in self.pending.values() for e in f.recorded if e.seq > record.applied)
        return record.events + tuple(e.event for _, e in sorted(unseen.items())
                                     if isinstance(e.event, ev.SignalReceived))

    def _delivery(self, msg: DeliverToWorkflow, sender) -> None:
        if self.status is None or self.status.is_terminal:
            self._reply(msg.reply_to, msg.corr, False,
                        NotRunning(self.workflow_id, self.status.value if self.status else "unknown"))
            return
        if isinstance(msg.event, ev.WorkflowCancelRequested) and (
                self.cancel_requested or msg.event.requested_by not in (None, self.parent_workflow_id)):
            # Already requested in this run (once is enough), or a parent whose child could not
            # start under this id (it is another workflow's) taking down what it thinks is its child.
            self._reply(msg.reply_to, msg.corr, True, None)
            return
        if isinstance(msg.event, ev.TimerFired) and is_attempt_deadline(msg.event.timer_id):
            if self.run_actor is not None:  # lives in the wheel only: nothing to record (see deadlines)
                self.send(self.run_actor, DeadlinePassed(msg.event.timer_id))
            self._reply(msg.reply_to, msg.corr, True, None)
            return
        paused = self.status is st.WorkflowStatus.PAUSED
        if (isinstance(msg.event, ev.WorkflowPaused) and paused) or (
                isinstance(msg.event, ev.WorkflowResumed) and not paused) or (
                isinstance(msg.event, ev.TimerFired) and msg.event.timer_id not in self.open_timers) or (
                isinstance(msg.event, ev.CHILD_OUTCOMES) and msg.event.child_workflow_id not in self.open_children) or (
                isinstance(msg.event, ev.SignalReceived) and msg.event.key in self.signal_keys):
            self._reply(msg.reply_to, msg.corr, True, None)  # already fired/resolved/received: nothing to record
            return
        self.delivered_while_passivating |= self.passivating
        self._append((msg.event,), Delivery(msg.corr, msg.reply_to), msg.observed_at)

    def _to_run(self, msg, sender) -> None:
        if self.run_actor is not None:
            self.send(self.run_actor, msg)

    def _query(self, msg: RunQuery, sender) -> None:
        if self.run_actor is None:
            self.send(msg.reply_to, ClientReply(msg.corr, False, NotRunning(self.workflow_id, "not resident")))
        else:
            self.send(self.run_actor, msg)

    def terminate(self, reason) -> None:
        self.fenced = True  # stopping: nothing more is written


_HANDLERS = {
    InitRecorder: Recorder._init,
    BeginRun: Recorder._begin,
    RunCrashed: Recorder._run_crashed,
    AppendDone: Recorder._append_done,
    Record: Recorder._record,
    DeliverToWorkflow: Recorder._delivery,
    RunQuery: Recorder._query,
    TerminateActivity: Recorder._to_run,
    Passivate: Recorder._passivate,
    RunIdle: Recorder._run_idle,
    ChildActorExited: Recorder._run_exited,
    ProcessUp: watch_child_process,  # its run actor's, on the multi-process runtime
}
