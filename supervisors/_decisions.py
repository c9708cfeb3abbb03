"""Restart decisions as small pure functions (no actors, no clocks).

The supervisor actor feeds these the facts (who exited, why, when) and does
what they return, so every rule can be tested as a table:

- `is_normal(reason)` / `should_restart(restart_type, reason)`: restart type
  × exit reason → restart or not.
- `to_restart(strategy, children, failed_id)`: which siblings to stop (in
  reverse start order) and which children to start again (in start order);
  one function per strategy underneath. As in OTP, the children in scope
  are all those the supervisor holds, running or stopped (a child stopped by
  ``TerminateChild`` is started again by a one_for_all restart: OTP's
  ``tree`` case).
- `RestartIntensity`: at most `intensity` restarts in any `period` seconds,
  as a sliding window.
- `should_auto_shutdown(...)`: whether a significant child's exit ends the
  supervisor.

Exit reasons are plain picklable values. "normal", "shutdown" and
``("shutdown", anything)`` are normal; every other reason (``"killed"``,
``("exception", ...)``, ...) is abnormal.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, Sequence

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILLED = "killed"  # the child ended without saying why (crash, SIGKILL, raw ActorExitRequest)
IGNORE = "ignore"  # a child chose not to start (`LinkedActor.ignore`); never restarted


def is_normal(reason: Any) -> bool:
    """True for "normal", "shutdown" and ("shutdown", term), as in OTP."""
    if reason in (NORMAL, SHUTDOWN):
        return True
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == SHUTDOWN


def should_restart(restart_type: str, reason: Any) -> bool:
    """Whether a child that exited with `reason` is restarted.

    Args:
        restart_type: "permanent" (always), "transient" (only when the
            reason is abnormal) or "temporary" (never).
        reason: the exit reason.

    Raises:
        ValueError: unknown restart type.
    """
    if restart_type == "permanent":
        return True
    if restart_type == "transient":
        return not is_normal(reason)
    if restart_type == "temporary":
        return False
    raise ValueError(f"unknown restart type {restart_type!r}")


# -- strategies: (children in start order, index of the failed one) -> (stop, restart) ----

def _one_for_one(children: Sequence[Any], failed: int) -> tuple[list, list]:
    return [], [children[failed].id]


def _one_for_all(children: Sequence[Any], failed: int) -> tuple[list, list]:
    return _stop_and_restart(children, failed, [j for j in range(len(children)) if j != failed])


def _rest_for_one(children: Sequence[Any], failed: int) -> tuple[list, list]:
    return _stop_and_restart(children, failed, list(range(failed + 1, len(children))))


def _stop_and_restart(children: Sequence[Any], failed: int, siblings: list[int]) -> tuple[list, list]:
    stop = [children[j].id for j in reversed(siblings)]
    # Siblings stopped on the failed child's account are restarted unless
    # temporary (a temporary child is never restarted, whatever stopped it).
    # The failed child keeps its place in the start order.
    again = sorted([failed] + [j for j in siblings if children[j].restart != "temporary"])
    return stop, [children[j].id for j in again]


_STRATEGIES: dict[str, Callable[[Sequence[Any], int], tuple[list, list]]] = {
    "one_for_one": _one_for_one,
    "simple_one_for_one": _one_for_one,
    "one_for_all": _one_for_all,
    "rest_for_one": _rest_for_one,
}


def to_restart(strategy: str, children: Sequence[Any], failed_id: Any) -> tuple[tuple, tuple]:
    """What a strategy does when the child `failed_id` must be restarted.

    Args:
        strategy: a `SupervisorSpec.strategy`.
        children: every child the supervisor holds, running or not, in
            start order; anything with ``.id`` and ``.restart`` (a
            `ChildSpec` will do).
        failed_id: the id of the child that exited and is to be restarted.

    Returns:
        ``(stop_ids, restart_ids)``: the siblings in scope to stop, in
        reverse start order (the caller skips those not running), then the
        children to start, in start order (the failed child included;
        temporary siblings left out).

    Raises:
        ValueError: unknown strategy, or `failed_id` not among `children`.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    index = next((i for i, c in enumerate(children) if c.id == failed_id), None)
    if index is None:
        raise ValueError(f"failed child {failed_id!r} is not among the children")
    stop, restart = _STRATEGIES[strategy](children, index)
    return tuple(stop), tuple(restart)


class RestartIntensity:
    """At most `intensity` restarts within any `period` seconds.

    `record(now)` notes one restart at time `now` (any monotonic clock, in
    seconds) and returns False when that restart is one too many: more than
    `intensity` restarts fall within the last `period` seconds. Restarts
    older than `period` drop out of the window. With intensity 0 the first
    restart is already too many.
    """

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self.period = period
        self._times: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Note a restart at `now`; False means the intensity is exceeded."""
        self._times.append(now)
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        return len(self._times) <= self.intensity

    @property
    def recent(self) -> int:
        """How many restarts are in the window as of the last `record`."""
        return len(self._times)


def should_auto_shutdown(auto_shutdown: str, significant: bool,
                         significant_still_running: Iterable[Any]) -> bool:
    """Whether a child's own exit (one that is not restarted) ends the supervisor.

    Args:
        auto_shutdown: the supervisor's setting.
        significant: whether the exited child is significant.
        significant_still_running: the significant children still running.

    Only exits the child chose (or crashed into) count; children the
    supervisor terminates itself never trigger an auto shutdown (as in OTP).
    """
    if not significant or auto_shutdown == "never":
        return False
    if auto_shutdown == "any_significant":
        return True
    return not any(True for _ in significant_still_running)
