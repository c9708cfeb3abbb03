"""The actor of one workflow run: replays its history, then runs it live.

It steps a `WorkflowInstance`, sends the commands the code issues to the
Recorder, and acts on them only once they are recorded: dispatching
activity attempts (linked child actors), arming timers, ending the run.
It also supervises its activities (`SupervisedActivities`: retries,
timeouts, heartbeats, cancellation), since each of those decisions is an
event of its history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from thespian.actors import Actor, ActorExitRequest, ChildActorExited

from supervisors import ProcessWatcher

from .. import commands as cmd
from .. import events as ev
from ..errors import Failure, NonDeterminismError, NotRunning, QueryFailed, UnknownQuery, WorkflowNotFound
from ..instance import WorkflowInfo, WorkflowInstance
from ..converter import encode_value
from . import deadlines as dl
from .facade import ActorEngineHandle
from .messages import (AttemptDone, CancelAttempt, ClientReply, Committed, DeadlinePassed, DeliverToWorkflow, Heartbeat,
                       InitWorkflow, Passivate, Record, Recorded, Resolved, RunCrashed, RunIdle, RunQuery,
                       TerminateActivity)
from .process_watch import ProcessUp, tell_parent_my_process, watch_child_process
from .supervised_activities import Activity, SupervisedActivities

log = logging.getLogger("aion_actors.workflow_actor")


@dataclass(slots=True)
class HandedOver:
    """What a run that continued as new still owns until its end is committed, then ends.

    The next run begins as soon as the hand-over is applied (so its first commands join the
    same commit), and reuses the old run's ids (activity 1, timer "1", a child id): what the
    old run owned is kept apart here, not in the book the new run fills.
    """

    children: dict[str, str]  # its open child id -> parent close policy
    attempts: list            # the actors of its attempts still running


class WorkflowActor(SupervisedActivities, ProcessWatcher, Actor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.instance: WorkflowInstance | None = None
        self.activities: dict[int, Activity] = {}
        self.stopping: dict[tuple[str, int], object] = {}  # (run id, activity id) -> an attempt to stop at commit
        self.handed_over: dict[str, HandedOver] = {}  # by run id: runs that continued as new, until committed
        self.children: dict[str, str] = {}  # open child id -> parent close policy
        self.signals_out: dict[int, ev.SignalSent] = {}  # sent by this run, their outcome not recorded yet
        self.paused = False                  # paused runs record, but dispatch no activity
        self.deferred: set[int] = set()      # activities whose recorded attempt waits for resume
        self.in_flight: dict[int, list[ev.HistoryEvent] | None] = {}  # Records not yet committed and acted on
        self.committed: set[int] = set()
        self.arrived: dict[int, tuple[bool, ev.HistoryEvent]] = {}  # by seq, until every earlier one applied
        self.applied_seq = 0
        self.next_token = 0
        self.broken = False

    def receiveMessage(self, msg, sender):
        if self.watch_consumes(msg):  # its attempts' processes, on the multi-process runtime
            return
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return
        try:
            handler(self, msg, sender)
        except NonDeterminismError as exc:
            self._fail_run(Failure("NonDeterminismError", str(exc), "", True))
        except Exception as exc:
            # An engine bug, not user code (that is caught in the instance): die, and let the
            # Recorder rebuild this run by replay. Never let Thespian retry the message.
            log.exception("workflow actor of %s crashed", getattr(self, "workflow_id", "?"))
            self.broken = True
            if getattr(self, "recorder", None) is not None:
                self.send(self.recorder, RunCrashed(f"{type(exc).__name__}: {exc}"))
            self.send(self.myAddress, ActorExitRequest())

    # -- replay --------------------------------------------------------------

    def _init(self, msg: InitWorkflow, sender) -> None:
        self.ref = msg.context
        self.context = msg.context.get()
        self.workflow_id = msg.workflow_id
        self.recorder = msg.recorder
        tell_parent_my_process(self, msg.recorder, self.context)
        self.engine = msg.engine
        self.seam = ActorEngineHandle(lambda message: self.send(msg.engine, message))
        history = list(msg.history)
        self.applied_seq = history[-1].seq
        starts = [i for i, e in enumerate(history) if isinstance(e.event, ev.WorkflowStarted)]
        run = history[starts[-1]:]
        self._begin(run[0], run_number=len(starts), replay=run[1:], rebuilt=not msg.fresh)

    def _begin(self, started: ev.HistoryEvent, run_number: int, replay: list[ev.HistoryEvent],
               rebuilt: bool = False) -> None:
        """Start the run's code and replay `replay` into it.

        `rebuilt`: the run existed before this actor (it is rebuilt from the store), so its code may
        have run up to where it waits, in older code, even if it recorded nothing after its start:
        all of that counts as replay, and `patched()` there is False as it was for that code
        (Temporal memoizes the same). Otherwise (just started, or continued as new) nothing of it
        ran before, not even for what reached it before its start was committed.
        """
        start: ev.WorkflowStarted = started.event
        definition = self.context.registry.workflow(start.workflow_type)
        info = WorkflowInfo(self.workflow_id, started.run_id, start.workflow_type,
                            start.parent_workflow_id, run_number)
        if self.instance is not None:
            self._hand_over(self.instance.info.run_id)
        self.instance = WorkflowInstance(definition, info, start.input, started.recorded_at, self.context.registry)
        self.activities.clear()
        self.children.clear()
        self.signals_out.clear()
        self.deferred.clear()
        self.instance.replaying = rebuilt
        self.instance.expect_patches(replay)
        self.instance.start()
        for event in replay:
            self._observe(event)
            self.instance.apply(event)
        self.instance.replaying = False
        self._flush()
        if (not self.instance.finished or self.activities) and not self.paused:
            self._redispatch_open_activities()
        if not self.instance.finished:
            self._respawn_open_children(replay)
            for sent in self.signals_out.values():  # sent, maybe not delivered: at-least-once
                self._send_signal(sent)

    def _hand_over(self, run_id: str) -> None:
        """The run continued as new: keep what it owns apart, to end it once that is committed.

        Its timers come off the heap now, before the next run has recorded anything: the next
        run's arms follow only after a round trip through the Recorder and a commit, so they
        land after this disarm, not under it (the next run reuses the timer ids).
        """
        attempts = []
        for activity in self.activities.values():
            if activity.actor is not None:
                self._disarm_deadlines(activity)
                attempts.append(activity.actor)
        self.handed_over[run_id] = HandedOver(dict(self.children), attempts)
        self.seam.disarm_timer(self.workflow_id, None)

    def _respawn_open_children(self, replay: list[ev.HistoryEvent]) -> None:
        """Repair a crash between recording a child and spawning it (spawning is idempotent)."""
        started = {e.event.child_workflow_id: e.event for e in replay if isinstance(e.event, ev.ChildWorkflowStarted)}
        for e in replay:
            if isinstance(e.event, ev.CHILD_OUTCOMES):
                started.pop(e.event.child_workflow_id, None)
        for child in started.values():
            self.seam.spawn_child_workflow(self.workflow_id, child.child_workflow_id, child.workflow_type, child.input,
                                           self.instance.info.run_id)

    def _observe(self, event: ev.HistoryEvent) -> None:
        """Keep the engine's own book of activities while replaying (attempts, heartbeats)."""
        e = event.event
        self._observe_activity(event)
        if isinstance(e, (ev.WorkflowPaused, ev.WorkflowResumed)):
            self.paused = isinstance(e, ev.WorkflowPaused)
        elif isinstance(e, ev.ChildWorkflowStarted):
            self.children[e.child_workflow_id] = e.parent_close_policy
        elif isinstance(e, ev.CHILD_OUTCOMES):
            self.children.pop(e.child_workflow_id, None)
        elif isinstance(e, ev.SignalSent) and e.ordinal:
            self.signals_out[e.ordinal] = e
        elif isinstance(e, (ev.ExternalSignalDelivered, ev.ExternalSignalFailed)):
            self.signals_out.pop(e.ordinal, None)

    # -- recording and acting ------------------------------------------------

    def _flush(self) -> None:
        """Record the commands the code issued since the last flush."""
        while self.instance.child_cancellations:
            child_id = self.instance.child_cancellations.pop(0)
            self.seam.terminate_linked_child_workflow(self.workflow_id, child_id, "the parent stopped waiting")
        commands = tuple(self.instance.take_new_commands())
        if not commands:
            return
        events = []
        for command in commands:
            events.append(command.to_event())
            if isinstance(command, cmd.ScheduleActivity):
                events += self._scheduled_events(command.activity_id, command.options)
            elif isinstance(command, cmd.RequestCancelActivity):
                events += self._cancelled_events(command.activity_id, events)
            elif isinstance(command, cmd.ContinueAsNew):
                events.append(ev.WorkflowStarted(self.instance.info.workflow_type, command.input,
                                                 self.instance.info.parent_workflow_id))
                events += self.instance.take_unconsumed_signals()  # the next run gets them: none is lost
        self._send_record(tuple(events))

    def _record(self, *events: ev.Event) -> None:
        self._send_record(tuple(events))

    def _send_record(self, events: tuple[ev.Event, ...]) -> None:
        self.next_token += 1
        self.in_flight[self.next_token] = None  # sent; its seqs are not known yet
        self.send(self.recorder, Record(self.next_token, events, self.applied_seq))

    # Events reach the run in two kinds of message (Recorded: its own, Resolved: on its
    # behalf), and a multi-process transport may deliver them out of order. They are applied
    # strictly in seq order, so the live run sees what a replay will see; the effects of a
    # Record happen once it is both committed and applied.

    def _recorded(self, msg: Recorded, sender) -> None:
        """Seqs assigned: apply now (so the next commands join the same commit); act at Committed."""
        self.in_flight[msg.token] = list(msg.events)
        for event in msg.events:
            self.arrived[event.seq] = (True, event)
        self._drain()

    def _resolved(self, msg: Resolved, sender) -> None:
        self.arrived[msg.event.seq] = (False, msg.event)
        self._drain()

    def _committed(self, msg: Committed, sender) -> None:
        self.committed.add(msg.token)
        self._act_on_committed()

    def _drain(self) -> None:
        while (item := self.arrived.pop(self.applied_seq + 1, None)) is not None:
            own, event = item
            self.applied_seq = event.seq
            if own:
                self._apply_recorded(event)
            else:
                self._apply_resolved(event)
        self._flush()
        self._act_on_committed()

    def _act_on_committed(self) -> None:
        """Act on committed Records strictly in token order (the order they were appended in).

        Committed messages may be delivered out of order; acting on a later Record first would
        let, say, the next run's timer be armed before the hand-over that ends the last run.
        """
        for token in sorted(self.committed):
            events = self.in_flight.get(token)
            if events is None or (events and events[-1].seq > self.applied_seq) or token != min(self.in_flight):
                return  # committed before its Recorded arrived, not applied yet, or an earlier one waits
            self.committed.discard(token)
            del self.in_flight[token]
            for event in events:
                self._act(event)

    def _apply_recorded(self, event: ev.HistoryEvent) -> None:
        self._observe(event)
        if isinstance(event.event, ev.WorkflowStarted):  # continue-as-new: the next run begins
            self._begin(event, self.instance.info.run_number + 1, [])
        else:
            self.instance.apply(event)

    def _apply_resolved(self, event: ev.HistoryEvent) -> None:
        e = event.event
        was_paused = self.paused
        self._observe(event)
        if was_paused and isinstance(e, ev.WorkflowResumed):
            self._resume_activities()
            return
        if isinstance(e, ev.TimerFired) and (timer := dl.parse(e.timer_id)) is not None:
            self._activity_timer_fired(timer)
            return
        if isinstance(e, ev.WorkflowCancelled) and e.terminated:
            self.instance.close()  # terminated: its code runs no further, not even cleanup
            self._run_ended()
            return
        self.instance.apply(event)

    def _act(self, event: ev.HistoryEvent) -> None:
        e = event.event
        if event.run_id != self.instance.info.run_id and isinstance(e, _ENDED_WITH_THEIR_RUN):
            # Committed after the run continued as new: that run's attempts and timers ended
            # with it, and the next run reuses their ids (activity 1, timer "1:t").
            return
        if isinstance(e, ev.ActivityStarted):
            self._dispatch(e.activity_id, e.attempt)
        elif isinstance(e, ev.TimerStarted):
            self.seam.arm_timer(self.workflow_id, e.timer_id, e.fire_at)
        elif isinstance(e, ev.TimerCancelled):
            self.seam.disarm_timer(self.workflow_id, e.timer_id)
        elif isinstance(e, (ev.ActivityCancelled, ev.ActivityFailed)):
            self._stop_stopped(event)
        elif isinstance(e, ev.ChildWorkflowStarted):
            self.seam.spawn_child_workflow(self.workflow_id, e.child_workflow_id, e.workflow_type, e.input,
                                           event.run_id)
        elif isinstance(e, ev.SignalSent):
            self._send_signal(e)
        elif isinstance(e, ev.WorkflowContinuedAsNew):
            ended = self.handed_over.pop(event.run_id, None)
            if ended is not None:
                self._end_owned(ended.children, ended.attempts, "the workflow run continued as new")
        elif isinstance(e, (ev.WorkflowCompleted, ev.WorkflowFailed, ev.WorkflowCancelled)):
            self._run_ended()

    def _send_signal(self, sent: ev.SignalSent) -> None:
        """Deliver a recorded signal; the target's answer comes back here as a `ClientReply`."""
        run_id = self.instance.info.run_id
        corr = ("signal", run_id, sent.ordinal)
        # Keyed, so the re-send after this run is rebuilt (or a routed retry) is recorded once.
        key = f"{self.workflow_id}/{run_id}#{sent.ordinal}" if sent.ordinal else ""
        self.send(self.engine, DeliverToWorkflow(corr, sent.target_workflow_id,
                                                 ev.SignalReceived(sent.name, sent.payload, key), self.myAddress))

    def _signal_outcome(self, msg: ClientReply, sender) -> None:
        """Record how the delivery of a signal this run sent ended; the code's await resolves on it."""
        kind, run_id, ordinal = msg.corr
        if self.instance.finished or run_id != self.instance.info.run_id or self.signals_out.pop(ordinal, None) is None:
            return  # a run that ended, or an answer to a re-sent signal already resolved
        if msg.ok:
            self._record(ev.ExternalSignalDelivered(ordinal))
        elif isinstance(msg.value, WorkflowNotFound):
            self._record(ev.ExternalSignalFailed(ordinal, Failure("WorkflowNotFound", str(msg.value))))
        elif isinstance(msg.value, NotRunning):
            self._record(ev.ExternalSignalFailed(ordinal, Failure("NotRunning", str(msg.value),
                                                                  details=(encode_value(msg.value.status),))))
        else:  # the target's store failed: no outcome; it is sent again when this run is rebuilt
            log.warning("workflow %s: signal %d not delivered: %s", self.workflow_id, ordinal, msg.value)

    def _run_ended(self) -> None:
        """Whatever ended the run (its code, or a terminate): nothing of it may go on running."""
        self.seam.disarm_timer(self.workflow_id, None)
        attempts = [activity.actor for activity in self.activities.values() if activity.actor is not None]
        self._end_owned(self.children, attempts, "the workflow run ended")

    def _end_owned(self, children: dict[str, str], attempts: list, reason: str) -> None:
        """A run ended (or continued as new, as Temporal's parent close policy also applies then):
        its attempts stop, and its linked children are taken down with it."""
        for actor in attempts:
            self.send(actor, CancelAttempt(reason))
        for child_id, policy in children.items():
            if policy != "abandon":
                self.seam.terminate_linked_child_workflow(self.workflow_id, child_id,
                                                          f"parent {self.workflow_id!r} ended")

    def _child_exited(self, msg: ChildActorExited, sender) -> None:
        found = next(((aid, a) for aid, a in self.activities.items() if a.actor == msg.childAddress), None)
        if found is not None and self.instance is not None and not self.instance.finished:
            self._attempt_process_died(*found)

    def _query(self, msg: RunQuery, sender) -> None:
        handlers = self.instance.query_handlers
        if msg.name not in handlers:
            self.send(msg.reply_to, ClientReply(msg.corr, False,
                                                UnknownQuery(self.workflow_id, msg.name, tuple(sorted(handlers)))))
            return
        try:
            value = encode_value(self.instance.query(msg.name, msg.args))
        except Exception as exc:  # noqa: BLE001 - a failing handler fails the query, not the run
            self.send(msg.reply_to, ClientReply(msg.corr, False,
                                                QueryFailed(self.workflow_id, msg.name, f"{type(exc).__name__}: {exc}")))
            return
        self.send(msg.reply_to, ClientReply(msg.corr, True, value))

    def _fail_run(self, failure: Failure) -> None:
        if self.broken:
            return
        self.broken = True
        self.instance.close()
        self._record(ev.WorkflowFailed(failure))

    def _passivate(self, msg: Passivate, sender) -> None:
        """Idle means waiting only on what the engine delivers (signals, timers, children)."""
        idle = not self.activities and not self.in_flight and not self.signals_out and not self.broken
        if idle:
            self.instance.close()
        self.send(sender, RunIdle(idle))

    def _exit(self, msg: ActorExitRequest, sender) -> None:
        if self.instance is not None:
            self.instance.close()


_ENDED_WITH_THEIR_RUN = (ev.ActivityStarted, ev.TimerStarted, ev.TimerCancelled)

_HANDLERS = {
    InitWorkflow: WorkflowActor._init,
    Recorded: WorkflowActor._recorded,
    Committed: WorkflowActor._committed,
    Resolved: WorkflowActor._resolved,
    AttemptDone: WorkflowActor._attempt_done,
    Heartbeat: WorkflowActor._heartbeat,
    DeadlinePassed: WorkflowActor._deadline_passed,
    TerminateActivity: WorkflowActor._terminate,
    Passivate: WorkflowActor._passivate,
    ChildActorExited: WorkflowActor._child_exited,
    ProcessUp: watch_child_process,
    RunQuery: WorkflowActor._query,
    ClientReply: WorkflowActor._signal_outcome,
    ActorExitRequest: WorkflowActor._exit,
}
