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
import time
from datetime import datetime, timezone

from thespian.actors import ActorExitRequest, ChildActorExited

from stores.base import Append, TimerRow, WorkflowState
from supervisors import KILLED, LinkedActor
from supervisors._decisions import RestartIntensity

from .. import events as ev
from .. import status as st
from ..errors import NotRunning, SequenceConflict, WorkflowAlreadyExists
from .deadlines import is_attempt_deadline
from .messages import (AppendDone, AppendRequest, BeginRun, ClientReply, Committed, DeadlinePassed, DeliverToWorkflow,
                       Fenced,
                       InitRecorder, InitWorkflow, Passivate, Passivated, QueryWorkflow, Record, Recorded, RecorderUp,
                       RecordWorkflowEvent, Resolved, RunClosed, RunCrashed, RunIdle, RunQuery, TerminateActivity)
from .workflow_actor import WorkflowActor

log = logging.getLogger("aion_actors.recorder")

# A run whose actor dies more often than this is parked (Paused), not restarted:
# OTP's restart intensity, per run, so one crash-looping run never takes its type down.
RUN_RESTART_INTENSITY = 3
RUN_RESTART_PERIOD = 60.0
_CHILD_OUTCOMES = (ev.ChildWorkflowCompleted, ev.ChildWorkflowFailed, ev.ChildWorkflowCancelled)


class Recorder(LinkedActor):
    """One per resident workflow, a child of its type's supervisor, parent of the run actor.

    It supervises the run actor itself (restart by replay, park past the
    intensity) because only it knows which appends are in flight.
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
        self.fenced = False
        self.pending: dict[int, tuple] = {}
        self.next_token = 0
        self.cancel_requested = False  # this run's cancellation was requested (requests after it record nothing)
        self.run_actor = None
        self.restarts = RestartIntensity(RUN_RESTART_INTENSITY, RUN_RESTART_PERIOD)
        self.crash_reason = KILLED
        self.last_recorded_at = datetime.min.replace(tzinfo=timezone.utc)
        self.passivating = False   # a Passivate went to the run actor; deliveries meanwhile cancel it
        self.delivered_while_passivating = False
        self.passivated = False    # stopped: anything arriving now goes back to the engine to re-route
        self.awaiting_writer = False
        self.parked = False  # stopped respawning after a crash loop, until resumed
        self.to_write: list[AppendRequest] = []
        self.unstarted: list[ev.HistoryEvent] = []  # appended while no run actor was there to apply them
        self.respawn_wanted = False

    # -- setup -------------------------------------------------------------

    def receive(self, msg, sender):
        if self.passivated and isinstance(msg, (DeliverToWorkflow, RecordWorkflowEvent, RunQuery)):
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
        if self.last_seq:  # the id is taken (by a run that is not resident here)
            self._reply(msg.reply_to, msg.corr, False, WorkflowAlreadyExists(self.workflow_id))
            self.send(self.engine, Fenced(self.workflow_id, "already exists"))
            return
        self._append((msg.start,), ("start", msg.corr, msg.reply_to))

    def _spawn_run(self, history) -> None:
        self.run_actor = self.createActor(WorkflowActor)
        self.send(self.run_actor, InitWorkflow(self.ref, self.workflow_id, tuple(history),
                                               self.myAddress, self.engine))

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

    def _append(self, events: tuple[ev.Event, ...], purpose: tuple, at: datetime | None = None) -> None:
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
        token = self.next_token = self.next_token + 1
        self.pending[token] = (purpose, recorded)
        append = Append(self.workflow_id, expected, tuple(ev.to_stored(e) for e in recorded), state,
                        tuple(schedule), tuple(cancel))
        self._to_writer(AppendRequest(token, append))
        # The run's own records come back as soon as their seqs are assigned, so its code
        # may run ahead and its next commands join the same commit; their effects wait for
        # Committed. What arrives from outside (signals, timer fires, cancel requests, child
        # outcomes) is delivered only once committed: record, then deliver. The run applies
        # both in seq order.
        if purpose[0] == "record":
            self.send(purpose[1], Recorded(purpose[2], recorded))

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
            self.open_timers.clear()
        elif isinstance(e, ev.WorkflowCancelRequested):
            self.cancel_requested = True
        elif isinstance(e, ev.ChildWorkflowStarted):
            self.open_children[e.child_workflow_id] = e.parent_close_policy
        elif isinstance(e, _CHILD_OUTCOMES):
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
        purpose, recorded = self.pending.pop(msg.token)
        kind = purpose[0]
        if msg.error is not None:
            if kind == "start" and isinstance(msg.error, SequenceConflict):
                self._reply(purpose[2], purpose[1], False, WorkflowAlreadyExists(self.workflow_id))
                self.send(self.engine, Fenced(self.workflow_id, "already exists"))
                return
            self._fence(msg.error)
            if kind in ("deliver", "recorded-only", "start"):
                self._reply(purpose[2], purpose[1], False, msg.error)
            return
        if kind == "start":
            self._reply(purpose[2], purpose[1], True, recorded[0].run_id)
            self._spawn_run(recorded + tuple(self.unstarted))
            self.unstarted.clear()
        elif kind == "record":
            self.send(purpose[1], Committed(purpose[2]))
        elif kind in ("deliver", "recorded-only"):
            if kind == "deliver":
                for event in recorded:
                    if self.run_actor is not None:
                        self.send(self.run_actor, Resolved(event))
                    elif isinstance(event.event, ev.WorkflowResumed) and self.parked:
                        self.parked = False  # resumed after a crash loop: try again, from the store
                        self.restarts = RestartIntensity(RUN_RESTART_INTENSITY, RUN_RESTART_PERIOD)
                        self._respawn()
                    else:
                        self.unstarted.append(event)  # the run gets it with its history when it starts
            self._reply(purpose[2], purpose[1], True, None)
        if self.respawn_wanted and not self.pending:
            self._respawn()
        if self.status is not None and self.status.is_terminal and not self.pending:
            self.send(self.engine, RunClosed(self.workflow_id, self.status.value, recorded[-1].event,
                                             self.parent_workflow_id, self.workflow_type))

    def _fence(self, error: BaseException) -> None:
        """A second writer (or a failing store): stop writing, stop the run, tell the engine."""
        if self.fenced:
            return
        self.fenced = True
        log.error("workflow %s fenced: %s", self.workflow_id, error)
        for purpose, _ in self.pending.values():
            if purpose[0] in ("deliver", "recorded-only", "start"):
                self._reply(purpose[2], purpose[1], False, error)
        self.pending.clear()
        self.to_write.clear()
        self.send(self.engine, Fenced(self.workflow_id, str(error)))

    def _reply(self, reply_to, corr, ok, value) -> None:
        if reply_to is not None and corr is not None:
            self.send(reply_to, ClientReply(corr, ok, value))

    # -- requests ------------------------------------------------------------

    def _record(self, msg: Record, sender) -> None:
        if self.status is not None and self.status.is_terminal:
            return  # the run ended: a late command records nothing
        self._append(msg.events, ("record", sender, msg.token))

    def _delivery(self, msg: DeliverToWorkflow, sender) -> None:
        if self.status is None or self.status.is_terminal:
            self._reply(msg.reply_to, msg.corr, False,
                        NotRunning(self.workflow_id, self.status.value if self.status else "unknown"))
            return
        if isinstance(msg.event, ev.WorkflowCancelRequested) and self.cancel_requested:
            self._reply(msg.reply_to, msg.corr, True, None)  # already requested in this run: once is enough
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
                isinstance(msg.event, _CHILD_OUTCOMES) and msg.event.child_workflow_id not in self.open_children):
            self._reply(msg.reply_to, msg.corr, True, None)  # already fired/cancelled/resolved: nothing to record
            return
        self.delivered_while_passivating |= self.passivating
        self._append((msg.event,), ("deliver", msg.corr, msg.reply_to), msg.observed_at)

    def _record_only(self, msg: RecordWorkflowEvent, sender) -> None:
        if self.status is None or self.status.is_terminal:
            self._reply(msg.reply_to, msg.corr, False,
                        NotRunning(self.workflow_id, self.status.value if self.status else "unknown"))
            return
        self._append((msg.event,), ("recorded-only", msg.corr, msg.reply_to))

    def _to_run(self, msg, sender) -> None:
        if self.run_actor is not None:
            self.send(self.run_actor, msg)

    def _query(self, msg: RunQuery, sender) -> None:
        if self.run_actor is None:
            self.send(msg.reply_to, ClientReply(msg.corr, False, NotRunning(self.workflow_id, "not resident")))
        else:
            self.send(self.run_actor, msg)

    def _run_exited(self, msg: ChildActorExited, sender) -> None:
        if msg.childAddress != self.run_actor or self.fenced:
            return
        self.run_actor = None
        if self.status is None or self.status.is_terminal or self.status is st.WorkflowStatus.PAUSED:
            return
        # The run's actor died without ending the run: rebuild it by replay, unless it keeps dying.
        reason, self.crash_reason = self.crash_reason, KILLED
        if not self.restarts.record(time.monotonic()):
            self.parked = True
            log.error("workflow %s: its actor crashed %d times within %gs (last: %s); parked",
                      self.workflow_id, self.restarts.recent, RUN_RESTART_PERIOD, reason)
            self._append((ev.WorkflowPaused(
                f"the workflow actor crashed {self.restarts.recent} times within {RUN_RESTART_PERIOD:g}s "
                f"(last: {reason}); fix the cause, then resume it"),), ("paused",))
            return
        log.warning("workflow %s: its actor crashed (%s); rebuilding it by replay", self.workflow_id, reason)
        self._respawn()

    def _run_crashed(self, msg: RunCrashed, sender) -> None:
        if sender == self.run_actor:
            self.crash_reason = msg.reason

    def _respawn(self) -> None:
        """Rebuild the run from the store, once every append in flight is committed (so it is there)."""
        if self.pending:
            self.respawn_wanted = True
            return
        self.respawn_wanted = False
        self.unstarted.clear()
        self._spawn_run(self.context.read_history(self.workflow_id))

    def _passivate(self, msg: Passivate, sender) -> None:
        if self.run_actor is None or self.pending or self.passivating or self.fenced:
            return
        self.passivating = True
        self.delivered_while_passivating = False
        self.send(self.run_actor, msg)

    def _run_idle(self, msg: RunIdle, sender) -> None:
        self.passivating = False
        if msg.idle and not self.pending and not self.delivered_while_passivating:
            self.passivated = True
            self.send(self.engine, Passivated(self.workflow_id))
        elif msg.idle:
            # Something arrived after the run closed its code: rebuild it by replay, it is not idle.
            self.send(self.run_actor, ActorExitRequest())
            self.run_actor = None
            self._respawn()

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
    RecordWorkflowEvent: Recorder._record_only,
    TerminateActivity: Recorder._to_run,
    Passivate: Recorder._passivate,
    RunIdle: Recorder._run_idle,
    ChildActorExited: Recorder._run_exited,
}
