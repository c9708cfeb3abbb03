"""Which pending tasks a claim may take: the queue limits as pure functions over plain data.

Private to the bundled stores. A store counts, in the claim's own
transaction, the tasks each slot holds claimed and the claims each slot made
within its rate period; these functions then say how many more a slot may
take and which candidates, in claim order, a claim gets. A slot is a queue,
or a (queue, partition key) when the queue is partitioned.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Protocol, TypeVar

from .tasks import QueueLimits

Slot = tuple[str, Hashable]


class Candidate(Protocol):
    id: int
    queue: str
    priority: int
    partition_key: str | None


C = TypeVar("C", bound=Candidate)


def slot_of(queue: str, partition_key: str | None, limits: QueueLimits) -> Slot:
    """The slot a task's claim counts against: its queue, or its queue's partition."""
    return (queue, partition_key if limits.partitioned else None)


def claim_order(task: Candidate) -> tuple[int, int]:
    """Higher priority first, then older (lower id)."""
    return (-task.priority, task.id)


def room_in(limits: QueueLimits, held: int, started: int) -> int | None:
    """How many more claims a slot may make now; `None` when unlimited.

    `held`: its tasks claimed and not finished; `started`: its claims within
    the last `rate_period` seconds.
    """
    rooms = []
    if limits.concurrency is not None:
        rooms.append(limits.concurrency - held)
    if limits.rate_limit is not None:
        rooms.append(limits.rate_limit - started)
    return max(0, min(rooms)) if rooms else None


class Budgets:
    """The room left in each slot during one claim, as candidates are taken."""

    def __init__(self, limits: Mapping[str, QueueLimits], held: Mapping[Slot, int],
                 started: Mapping[Slot, int]) -> None:
        self._limits, self._held, self._started = limits, held, started
        self._left: dict[Slot, int | None] = {}

    def left(self, slot: Slot) -> int | None:
        if slot not in self._left:
            self._left[slot] = room_in(self._limits[slot[0]], self._held.get(slot, 0), self._started.get(slot, 0))
        return self._left[slot]

    def take(self, slot: Slot) -> None:
        left = self.left(slot)
        if left is not None:
            self._left[slot] = left - 1


def pick(candidates: Iterable[C], limits: Mapping[str, QueueLimits], budgets: Budgets,
         room: int) -> tuple[list[C], set[Slot]]:
    """Take up to `room` of `candidates` (in claim order), skipping those whose slot is full.

    Returns:
        (the candidates taken, the slots found full on the way): a store that
        fetched candidates in pages fetches again without those slots while
        room is left.
    """
    taken: list[C] = []
    full: set[Slot] = set()
    for task in sorted(candidates, key=claim_order):
        if len(taken) == room:
            break
        slot = slot_of(task.queue, task.partition_key, limits[task.queue])
        if budgets.left(slot) == 0:
            full.add(slot)
            continue
        budgets.take(slot)
        taken.append(task)
    return taken, full
