"""Which runs have actors in this engine, and which wait for room: plain data, no actors.

The engine actor asks this book what to do and carries the answers out (sends,
spawns); the book itself never sends anything, so every rule here is tested from
tables (`tests/engine/test_residency_book.py`), like `supervisors.decisions`.

Three places a run can be, each in one map, so leaving one is one operation:

- resident: it has a Recorder here (or one is starting; its address is then
  None and what arrives for it waits in `Resident.on_up`). Kept in LRU order.
- waiting for room: `max_resident` runs are resident already; what arrived for
  it waits in the book until `admit_next` says it may come in.
- neither: durable in the store only, or unknown.

Result waiters (the `result()` calls of clients) are kept per run apart from
residency, since a run may come and go while a client waits.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

# What to do with the run's Recorder once it is up (the argument is its address).
Then = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Asked:
    """A request waiting for its run to be made resident, with whom to answer if it never is."""

    then: Then
    corr: Any
    reply_to: Any

    def __call__(self, recorder) -> None:
        self.then(recorder)


@dataclass(slots=True)
class Resident:
    """A run with actors here."""

    workflow_type: str
    touched: float
    recorder: Any = None      # None while its Recorder is starting
    on_up: list[Then] = field(default_factory=list)


class ResidencyBook:
    """Resident runs (LRU first), runs waiting for room, the admission queue and result waiters.

    Args:
        max_resident: runs that may have actors at once.
        idle_timeout: seconds without traffic after which a resident run is asked to passivate.
    """

    def __init__(self, max_resident: int, idle_timeout: float) -> None:
        self.max_resident = max_resident
        self.idle_timeout = idle_timeout
        self._resident: OrderedDict[str, Resident] = OrderedDict()
        self._waiting: dict[str, list[Then]] = {}
        self._admissions: deque[tuple[str, Callable[[], None]]] = deque()
        self._asked: set[str] = set()  # runs with a Passivate in flight: not asked again until housekeeping
        self._result_waiters: dict[str, list[int]] = {}

    # -- where a run is --------------------------------------------------------

    def is_resident(self, workflow_id: str) -> bool:
        return workflow_id in self._resident

    def is_waiting(self, workflow_id: str) -> bool:
        return workflow_id in self._waiting

    def resident_where(self, wanted: Callable[[str], bool]) -> list[str]:
        """The resident runs whose id `wanted` accepts (say, those of some shards)."""
        return [w for w in self._resident if wanted(w)]

    def waiting_where(self, wanted: Callable[[str], bool]) -> list[str]:
        return [w for w in self._waiting if wanted(w)]

    def resident_count(self) -> int:
        return len(self._resident)

    def has_room(self) -> bool:
        return len(self._resident) < self.max_resident

    # -- coming in ---------------------------------------------------------------

    def add(self, workflow_id: str, workflow_type: str, on_up: list[Then], now: float) -> None:
        """The run's Recorder is being started; `on_up` runs once it is up (see `recorder_up`)."""
        self._resident[workflow_id] = Resident(workflow_type, now, on_up=list(on_up))

    def recorder_up(self, workflow_id: str, recorder: Any) -> list[Then] | None:
        """Note the run's Recorder; return what waited for it, or None if the run is no longer wanted."""
        run = self._resident.get(workflow_id)
        if run is None:
            return None
        run.recorder = recorder
        on_up, run.on_up = run.on_up, []
        return on_up

    def touch(self, workflow_id: str, now: float) -> Resident:
        """Traffic for a resident run: most recently used, and worth asking to passivate again."""
        run = self._resident[workflow_id]
        self._resident.move_to_end(workflow_id)
        self._asked.discard(workflow_id)
        run.touched = now
        return run

    def wait_for_room(self, workflow_id: str, then: Then | None = None) -> None:
        """Hold what arrives for a run that is not resident until it is (`then` may be None)."""
        thens = self._waiting.setdefault(workflow_id, [])
        if then is not None:
            thens.append(then)

    def take_waiting(self, workflow_id: str) -> list[Then]:
        return self._waiting.pop(workflow_id, [])

    def queue(self, workflow_id: str, make_resident: Callable[[], None]) -> None:
        """`make_resident` runs when `admit_next` finds room, oldest first."""
        self._admissions.append((workflow_id, make_resident))

    def admit_next(self) -> Callable[[], None] | None:
        """The oldest queued admission if there is room for it now, else None."""
        if self._admissions and self.has_room():
            return self._admissions.popleft()[1]
        return None

    # -- going out -----------------------------------------------------------------

    def to_passivate(self, now: float) -> list[tuple[str, Any]]:
        """Runs to ask to passivate now: idle past the timeout, and as many LRU runs as the cap needs.

        Marks them asked, so a burst of admissions asks each run once: the walk stops at the
        first run that is neither idle nor needed for room.
        """
        idle_before = now - self.idle_timeout
        excess = len(self._resident) + len(self._admissions) - self.max_resident - len(self._asked)
        chosen = []
        for workflow_id, run in self._resident.items():
            if excess <= 0 and run.touched > idle_before:
                break
            if workflow_id in self._asked or run.recorder is None:
                continue
            excess -= 1
            self._asked.add(workflow_id)
            chosen.append((workflow_id, run.recorder))
        return chosen

    def forget_asked(self) -> None:
        """Housekeeping: a run that refused to passivate may be idle now."""
        self._asked.clear()

    def remove(self, workflow_id: str) -> Resident | None:
        """The run has no actors here any more (passivated, closed, fenced); returns what it was."""
        self._asked.discard(workflow_id)
        return self._resident.pop(workflow_id, None)

    def remove_type(self, workflow_type: str) -> list[tuple[str, list[Then]]]:
        """A type's supervisor died with its Recorders: forget its runs.

        Returns each run's id with what waited for its Recorder, oldest first, for the
        engine to route again once the supervisor is back.
        """
        lost = [w for w, run in self._resident.items() if run.workflow_type == workflow_type]
        return [(workflow_id, self.remove(workflow_id).on_up) for workflow_id in lost]

    # -- result waiters --------------------------------------------------------------

    def add_result_waiter(self, workflow_id: str, corr: int) -> None:
        self._result_waiters.setdefault(workflow_id, []).append(corr)

    def result_waited_where(self, wanted: Callable[[str], bool]) -> list[str]:
        return [w for w in self._result_waiters if wanted(w)]

    def take_result_waiters(self, workflow_id: str) -> list[int]:
        return self._result_waiters.pop(workflow_id, [])
