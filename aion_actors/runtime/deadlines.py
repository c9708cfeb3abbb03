"""The engine's own timers for an activity: retry backoff and the three timeouts.

Two outlive an attempt, so they are durable timers in the run's history
(`TimerStarted` / `TimerFired` / `TimerCancelled` under an `engine:` id,
which replay does not match against workflow commands) that a crash, a
restart or a passivation does not lose:

- `engine:retry:<activity>:<attempt>`: the backoff after a failed attempt;
- `engine:schedule_to_close:<activity>`: started with the activity, for all
  of its attempts and backoffs; cancelled with its final outcome.

Two live and die with one attempt, so they are only deadlines in the timer
wheel, armed when the attempt is dispatched (`attempt_deadlines`): an
attempt that outlives its engine is run again as the next attempt, with
fresh deadlines, so nothing about them needs recording. Only a timeout that
ends an attempt is recorded, as its `ActivityFailed`. That keeps two events
and two timer rows per step off the hot path.

- `engine:start_to_close:<activity>:<attempt>`;
- `engine:heartbeat:<activity>:<attempt>`: moved forward by every
  heartbeat that arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import events as ev
from ..commands import ENGINE_TIMER_PREFIX
from ..errors import Failure

RETRY = "retry"
START_TO_CLOSE = "start_to_close"
SCHEDULE_TO_CLOSE = "schedule_to_close"
HEARTBEAT = "heartbeat"
_KINDS = (RETRY, START_TO_CLOSE, SCHEDULE_TO_CLOSE, HEARTBEAT)
TIMEOUT_TYPE = "ActivityTimeout"  # the `Failure.type` of every timeout; list it in non_retryable to stop retries


@dataclass(frozen=True, slots=True)
class ActivityTimer:
    kind: str
    activity_id: int
    attempt: int | None = None  # None for schedule_to_close, which spans the attempts

    @property
    def timer_id(self) -> str:
        suffix = "" if self.attempt is None else f":{self.attempt}"
        return f"{ENGINE_TIMER_PREFIX}{self.kind}:{self.activity_id}{suffix}"


def parse(timer_id: str) -> ActivityTimer | None:
    """The activity timer behind a timer id, or None for any other timer."""
    if not timer_id.startswith(ENGINE_TIMER_PREFIX):
        return None
    kind, _, rest = timer_id[len(ENGINE_TIMER_PREFIX):].partition(":")
    if kind not in _KINDS:
        return None
    activity_id, _, attempt = rest.partition(":")
    return ActivityTimer(kind, int(activity_id), int(attempt) if attempt else None)


def after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def on_schedule(activity_id: int, options: dict, now: datetime) -> list[ev.Event]:
    seconds = options.get("schedule_to_close_timeout")
    if seconds is None:
        return []
    return [ev.TimerStarted(ActivityTimer(SCHEDULE_TO_CLOSE, activity_id).timer_id, after(now, seconds))]


def attempt_deadlines(activity_id: int, attempt: int, options: dict, now: datetime) -> list[tuple[str, datetime]]:
    """The wheel deadlines of one attempt dispatched at `now` (the engine clock's time)."""
    return [(ActivityTimer(kind, activity_id, attempt).timer_id, after(now, options[key]))
            for kind, key in ((START_TO_CLOSE, "start_to_close_timeout"), (HEARTBEAT, "heartbeat_timeout"))
            if options.get(key) is not None]


def is_attempt_deadline(timer_id: str) -> bool:
    timer = parse(timer_id)
    return timer is not None and timer.kind in (START_TO_CLOSE, HEARTBEAT)


def timeout_failure(timer: ActivityTimer, options: dict) -> Failure:
    seconds = options.get(f"{timer.kind}_timeout")
    if timer.kind == HEARTBEAT:
        message = f"no heartbeat within the heartbeat_timeout of {seconds}s (attempt {timer.attempt})"
    elif timer.kind == START_TO_CLOSE:
        message = f"start_to_close timeout of {seconds}s exceeded (attempt {timer.attempt})"
    else:
        message = f"schedule_to_close timeout of {seconds}s exceeded"
    # schedule_to_close bounds every attempt: nothing may follow it.
    return Failure(TIMEOUT_TYPE, message, non_retryable=timer.kind == SCHEDULE_TO_CLOSE)
