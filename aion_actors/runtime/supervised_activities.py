"""How a run supervises its activities: attempts, retries, timeouts, heartbeats, cancellation.

A mixin of `WorkflowActor`: the run owns its activities' fate because each
decision (retry, time out, give up) is an event of its history and each
attempt is a linked actor of its own. Every decision is recorded before it
takes effect: an attempt is dispatched once its `ActivityStarted` is
committed, and told to stop once the outcome that ends it (a timeout, an
`ActivityCancelled`, the run's end) is. An attempt told to stop reports
nothing that is recorded: its late result or failure is dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import events as ev
from ..activity import HEARTBEAT_THROTTLE
from ..payload import Payload
from ..retry import RetryPolicy, next_retry_delay
from ..errors import Failure
from . import deadlines as dl
from .activity_actor import ActivityActor
from .remote_attempt import RemoteAttemptActor
from .messages import AttemptDone, CancelAttempt, DeadlinePassed, Heartbeat, RunAttempt, TerminateActivity


@dataclass(slots=True)
class Activity:
    activity_type: str
    input: Payload
    retry: RetryPolicy | None
    options: dict
    attempt: int = 0
    actor: object = None                # the live attempt's actor; None while none runs here
    heartbeat: Payload | None = None    # the last recorded (or reported) details, for the next attempt
    timers: set[str] = field(default_factory=set)  # its open durable engine timers (retry, schedule_to_close)
    deadlines: set[str] = field(default_factory=set)  # the live attempt's wheel deadlines
    fired: dl.ActivityTimer | None = None  # a schedule_to_close that fired, its outcome not recorded yet
    last_beat: float = 0.0              # monotonic: the live attempt's last sign of life
    beat_recorded_at: float = float("-inf")
    unrecorded: Payload | None = None   # heartbeat details held back by the recording throttle

    def waiting_retry(self) -> bool:
        return any(dl.parse(t).kind == dl.RETRY for t in self.timers)


class SupervisedActivities:
    """Needs from the actor: `activities`, `stopping`, `deferred`, `paused`, `workflow_id`, `ref`,
    `seam`, `instance`, `_record`, `send`, `createActor`."""

    def _now(self):
        """The engine clock's time: deadlines follow the virtual clock under time skipping."""
        return self.context.clock.now()

    # -- the book, kept from history (replay and live alike) -----------------

    def _observe_activity(self, event: ev.HistoryEvent) -> None:
        e = event.event
        if isinstance(e, ev.ActivityScheduled):
            self.activities[e.activity_id] = Activity(e.activity_type, e.input,
                                                      RetryPolicy.from_dict(e.options.get("retry")), e.options)
            return
        if isinstance(e, (ev.TimerStarted, ev.TimerFired, ev.TimerCancelled)):
            self._observe_timer(e)
            return
        activity = self.activities.get(getattr(e, "activity_id", None))
        if activity is None:
            return
        if isinstance(e, ev.ActivityStarted):
            self._disarm_deadlines(activity)  # a new attempt: the last one's deadlines are moot
            activity.attempt = e.attempt
            activity.fired = None
        elif isinstance(e, ev.ActivityHeartbeat):
            activity.heartbeat = e.details
        elif isinstance(e, ev.ActivityFailed) and e.kind == ev.RETRYABLE:
            self._disarm_deadlines(activity)
            activity.fired = None
        elif isinstance(e, (ev.ActivityCompleted, ev.ActivityCancelled, ev.ActivityFailed)):
            self._disarm_deadlines(activity)
            del self.activities[e.activity_id]
            if activity.actor is not None:  # still running: stop it once this outcome is committed
                self.stopping[(event.run_id, e.activity_id)] = activity.actor
                activity.actor = None

    def _observe_timer(self, e: ev.Event) -> None:
        timer = dl.parse(e.timer_id)
        activity = self.activities.get(timer.activity_id) if timer else None
        if activity is None:
            return
        if isinstance(e, ev.TimerStarted):
            activity.timers.add(e.timer_id)
            return
        activity.timers.discard(e.timer_id)
        if isinstance(e, ev.TimerFired) and timer.kind == dl.SCHEDULE_TO_CLOSE:
            activity.fired = timer

    # -- what gets recorded ---------------------------------------------------

    def _scheduled_events(self, activity_id: int, options: dict) -> list[ev.Event]:
        return dl.on_schedule(activity_id, options, self._now()) + [ev.ActivityStarted(activity_id, 1)]

    def _cancelled_events(self, activity_id: int, started: list[ev.Event]) -> list[ev.Event]:
        """Close the timers of an activity the workflow stopped waiting for."""
        activity = self.activities.get(activity_id)
        open_timers = set(activity.timers) if activity else set()
        open_timers |= {e.timer_id for e in started if isinstance(e, ev.TimerStarted)
                        and (t := dl.parse(e.timer_id)) and t.activity_id == activity_id}
        return [ev.TimerCancelled(t) for t in sorted(open_timers)]

    def _outcome_events(self, activity_id: int, activity: Activity, attempt: int, failure: Failure | None,
                        result: Payload | None = None) -> list[ev.Event]:
        """An attempt's outcome, its timers closed; a retry's backoff timer if one follows."""
        retry_in = None if failure is None else next_retry_delay(activity.retry, attempt, failure)
        final = failure is None or retry_in is None
        events: list[ev.Event] = [ev.TimerCancelled(t) for t in sorted(activity.timers)
                                  if final or dl.parse(t).kind != dl.SCHEDULE_TO_CLOSE]
        if failure is None:
            events.append(ev.ActivityCompleted(activity_id, attempt, result))
        elif final:
            events.append(ev.ActivityFailed(activity_id, attempt, failure, ev.TERMINAL))
        else:
            events += [ev.ActivityFailed(activity_id, attempt, failure, ev.RETRYABLE),
                       ev.TimerStarted(dl.ActivityTimer(dl.RETRY, activity_id, attempt).timer_id, dl.after(self._now(), retry_in))]
        return events

    # -- after replay, after a pause -------------------------------------------

    def _redispatch_open_activities(self) -> None:
        """At-least-once: an attempt that was started but never finished runs again, counting on.

        A timeout that fired while nobody was there to act on it is acted on now.
        """
        for activity_id, activity in list(self.activities.items()):
            if activity.fired is not None:
                self._timed_out(activity_id, activity, activity.fired)
            elif not activity.waiting_retry():
                self._record(ev.ActivityStarted(activity_id, activity.attempt + 1))

    def _resume_activities(self) -> None:
        """Dispatch what a pause held back; start a new attempt of what it found unstarted."""
        for activity_id, activity in self.activities.items():
            if activity_id in self.deferred:
                self._dispatch(activity_id, activity.attempt)  # its deadlines start now
            elif activity.actor is None and not activity.waiting_retry():
                self._record(ev.ActivityStarted(activity_id, activity.attempt + 1))
        self.deferred.clear()

    # -- acting on what was committed -------------------------------------------

    def _dispatch(self, activity_id: int, attempt: int) -> None:
        activity = self.activities.get(activity_id)
        if activity is None:
            return
        activity.attempt = attempt
        if self.paused:
            self.deferred.add(activity_id)
            return
        activity.last_beat = time.monotonic()
        for timer_id, fire_at in dl.attempt_deadlines(activity_id, attempt, activity.options, self._now()):
            activity.deadlines.add(timer_id)
            self.seam.arm_timer(self.workflow_id, timer_id, fire_at)
        queue = activity.options.get("task_queue")
        if queue is None:
            activity.actor = self.createActor(ActivityActor)
            self.send(activity.actor, RunAttempt(self.ref, self.workflow_id, activity_id, activity.activity_type,
                                                 activity.input, attempt, activity.heartbeat,
                                                 activity.options.get("heartbeat_timeout")))
            return
        # Another engine serving the queue runs it; its actor here follows the task in the store.
        activity.actor = self.createActor(RemoteAttemptActor)
        self.send(activity.actor, RunAttempt(
            self.ref, self.workflow_id, activity_id, activity.activity_type, activity.input, attempt,
            activity.heartbeat, activity.options.get("heartbeat_timeout"), run_id=self.instance.info.run_id,
            placement=(queue, activity.options.get("priority", 0), activity.options.get("partition_key"))))

    def _stop_stopped(self, event: ev.HistoryEvent) -> None:
        """An outcome that ends a running attempt is committed: tell the attempt to stop.

        Keyed by run too: a run that continued as new and the next one reuse activity ids.
        """
        e = event.event
        actor = self.stopping.pop((event.run_id, e.activity_id), None)
        if actor is not None:
            reason = e.reason if isinstance(e, ev.ActivityCancelled) else str(e.failure)
            self.send(actor, CancelAttempt(reason or "cancelled by the workflow"))

    def _disarm_deadlines(self, activity: Activity) -> None:
        for timer_id in activity.deadlines:
            self.seam.disarm_timer(self.workflow_id, timer_id)
        activity.deadlines.clear()

    def _terminate_attempt(self, activity: Activity | None, reason: str) -> None:
        if activity is not None and activity.actor is not None:
            self.send(activity.actor, CancelAttempt(reason))

    def _terminate(self, msg: TerminateActivity, sender) -> None:
        self._terminate_attempt(self.activities.get(msg.activity_id), msg.reason)

    # -- what attempts report ----------------------------------------------------

    def _code_ended(self) -> bool:
        """The run's code ended (returned, failed, continued as new), its end maybe not applied yet.

        Nothing more is recorded for its activities then: after a continue-as-new the Recorder
        would give it the next run's id, and the next run reuses the activity ids. Attempts
        still running are stopped when the end is committed.
        """
        return self.instance is None or self.instance.finished

    def _attempt_done(self, msg: AttemptDone, sender) -> None:
        activity = self.activities.get(msg.activity_id)
        if activity is None or activity.actor is None or activity.attempt != msg.attempt or self._code_ended():
            return  # cancelled, timed out or stale: its result is not recorded
        if msg.worker_died:
            self._attempt_process_died(msg.activity_id, activity)
            return
        activity.actor = None
        events: list[ev.Event] = []
        details = msg.heartbeat if msg.heartbeat is not None else activity.unrecorded
        if details is not None:
            activity.heartbeat, activity.unrecorded = details, None
            events.append(ev.ActivityHeartbeat(msg.activity_id, msg.attempt, details))
        events += self._outcome_events(msg.activity_id, activity, msg.attempt, msg.failure, msg.result)
        self._record(*events)

    def _attempt_process_died(self, activity_id: int, activity: Activity) -> None:
        """An attempt's process died before reporting: at-least-once, so it runs again at once."""
        activity.actor = None
        self._disarm_deadlines(activity)
        failure = Failure("ActivityWorkerDied", f"the process running attempt {activity.attempt} of "
                          f"{activity.activity_type!r} died before reporting")
        exhausted = activity.retry is not None and next_retry_delay(activity.retry, activity.attempt, failure) is None
        if exhausted:
            self._record(*self._outcome_events(activity_id, activity, activity.attempt, failure))
        else:
            self._record(ev.ActivityFailed(activity_id, activity.attempt, failure, ev.RETRYABLE),
                         ev.ActivityStarted(activity_id, activity.attempt + 1))

    def _heartbeat(self, msg: Heartbeat, sender) -> None:
        activity = self.activities.get(msg.activity_id)
        if activity is None or activity.actor is None or activity.attempt != msg.attempt or self._code_ended():
            return
        now = time.monotonic()
        activity.last_beat = now
        activity.heartbeat = msg.details
        timeout = activity.options.get("heartbeat_timeout")
        deadline = dl.ActivityTimer(dl.HEARTBEAT, msg.activity_id, msg.attempt).timer_id
        if timeout is not None and deadline in activity.deadlines:
            self.seam.arm_timer(self.workflow_id, deadline, dl.after(self._now(), timeout))
        if now - activity.beat_recorded_at >= HEARTBEAT_THROTTLE:
            activity.beat_recorded_at, activity.unrecorded = now, None
            self._record(ev.ActivityHeartbeat(msg.activity_id, msg.attempt, msg.details))
        else:
            activity.unrecorded = msg.details

    # -- engine timers firing -------------------------------------------------------

    def _activity_timer_fired(self, timer: dl.ActivityTimer) -> None:
        activity = self.activities.get(timer.activity_id)
        if activity is None or self._code_ended():
            return
        if timer.kind == dl.RETRY:
            self._record(ev.ActivityStarted(timer.activity_id, activity.attempt + 1))
        elif activity.fired == timer:
            self._timed_out(timer.activity_id, activity, timer)

    def _deadline_passed(self, msg: DeadlinePassed, sender) -> None:
        """A live attempt's wheel deadline fell due: time it out, unless a beat came meanwhile."""
        timer = dl.parse(msg.timer_id)
        activity = self.activities.get(timer.activity_id)
        if activity is None or activity.actor is None or activity.attempt != timer.attempt \
                or msg.timer_id not in activity.deadlines or self._code_ended():
            return  # that attempt is over
        activity.deadlines.discard(msg.timer_id)
        if timer.kind == dl.HEARTBEAT:
            quiet = time.monotonic() - activity.last_beat
            timeout = activity.options["heartbeat_timeout"]
            if quiet < timeout:  # a beat moved the deadline after the wheel had fired it
                activity.deadlines.add(msg.timer_id)
                self.seam.arm_timer(self.workflow_id, msg.timer_id, dl.after(self._now(), timeout - quiet))
                return
        self._timed_out(timer.activity_id, activity, timer)

    def _timed_out(self, activity_id: int, activity: Activity, timer: dl.ActivityTimer) -> None:
        failure = dl.timeout_failure(timer, activity.options)
        if activity.actor is not None:
            self.stopping[(self.instance.info.run_id, activity_id)] = activity.actor
            activity.actor = None
        activity.fired = None
        self._record(*self._outcome_events(activity_id, activity, activity.attempt, failure))
