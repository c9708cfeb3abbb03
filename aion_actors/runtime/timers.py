"""One timer heap per engine, armed as a single wake-up for the earliest deadline.

Thespian's `wakeupAfter` falls seconds behind with thousands of pending
timers (FACTS.md), so actors never use it for durable timers: they arm
entries here and the driver sleeps until the earliest one is due.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class TimerWheel:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str, str]] = []
        self._live: dict[str, dict[str, float]] = {}  # workflow id -> timer id -> when
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def arm(self, workflow_id: str, timer_id: str, fire_at: datetime) -> None:
        when = fire_at.timestamp()
        timers = self._live.setdefault(workflow_id, {})
        self._count += timer_id not in timers
        timers[timer_id] = when
        heapq.heappush(self._heap, (when, workflow_id, timer_id))

    def disarm(self, workflow_id: str, timer_id: str) -> None:
        # Lazy deletion: the heap entry is skipped when it surfaces.
        timers = self._live.get(workflow_id)
        if timers is not None and timers.pop(timer_id, None) is not None:
            self._count -= 1
            if not timers:
                del self._live[workflow_id]

    def disarm_workflow(self, workflow_id: str) -> None:
        self._count -= len(self._live.pop(workflow_id, ()))

    def _when(self, workflow_id: str, timer_id: str) -> float | None:
        timers = self._live.get(workflow_id)
        return None if timers is None else timers.get(timer_id)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._when(heap[0][1], heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[str, str]]:
        due = []
        while (limit is None or len(due) < limit) and (deadline := self.next_deadline()) is not None \
                and deadline <= now:
            _, workflow_id, timer_id = heapq.heappop(self._heap)
            self.disarm(workflow_id, timer_id)
            due.append((workflow_id, timer_id))
        return due
