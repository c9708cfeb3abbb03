"""The in-memory reference store: same semantics as the SQL store, no durability.

Everything sits behind one lock, so every operation is atomic with respect to
every other. Records are frozen dataclasses holding `bytes`, so handing them
out directly is as safe as copying them.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

from ._checks import (check_append, check_claim, check_claim_shards, check_claimer, check_cutoff, check_fences,
                      check_request, check_shard_count, checksum, verify)
from ._memleases import MemoryLeases
from ._memtasks import MemoryTaskQueues
from .base import Append, EventStore, RunSummary, StoredEvent, TimerRow, WorkflowFilter, WorkflowSummary
from .errors import SequenceConflict, StaleFence
from .inbox import Request, RequestInbox
from .leases import DEFAULT_SHARDS, shard_of


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


@dataclass
class _Workflow:
    workflow_type: str
    status: str
    started_at: datetime
    closed_at: datetime | None = None
    # (event, crc) in seq order: events[i] has seq i + 1.
    events: list[tuple[StoredEvent, int]] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)

    def summary(self, workflow_id: str) -> WorkflowSummary:
        return WorkflowSummary(workflow_id, self.workflow_type, self.status, self.started_at,
                               self.closed_at, len(self.runs), len(self.events))


class InMemoryStore(EventStore, RequestInbox, MemoryLeases, MemoryTaskQueues):
    """A process-local `EventStore`, `RequestInbox`, `ShardLeases` and `TaskQueues`; the reference the SQL store
    is tested against.

    Args:
        shards: the number of shards (`stores.leases.shard_of`).
        clock: the store's clock for leases and heartbeats (aware UTC
            datetimes); tests pass one they can move. Defaults to the system's.
    """

    def __init__(self, *, shards: int = DEFAULT_SHARDS, clock: Callable[[], datetime] | None = None) -> None:
        check_shard_count(shards)
        self._lock = threading.Lock()
        self._init_leases(shards, clock)
        self._init_tasks()
        self._workflows: dict[str, _Workflow] = {}  # insertion order is creation order
        self._timers: dict[tuple[str, str], datetime] = {}
        self._requests: dict[int, Request] = {}  # insertion order is id order
        self._request_ids = itertools.count(1)

    # -- writing ---------------------------------------------------------

    def append_batch(self, appends: Sequence[Append]) -> list[SequenceConflict | StaleFence | None]:
        for append in appends:
            check_append(append)
        check_fences(appends, self._shards)
        with self._lock:
            return [self._stale(append) or self._apply(append) for append in appends]

    def _apply(self, append: Append) -> SequenceConflict | None:
        wf = self._workflows.get(append.workflow_id)
        found = len(wf.events) if wf is not None else 0
        if append.expected_seq != found:  # an existing workflow has >= 1 event, so 0 conflicts too
            return SequenceConflict(append.workflow_id, append.expected_seq, found)
        first, last = _utc(append.events[0].recorded_at), _utc(append.events[-1].recorded_at)
        if wf is None:
            assert append.state is not None  # check_append guarantees it on create
            wf = _Workflow(append.state.workflow_type, append.state.status, first)
            self._workflows[append.workflow_id] = wf
        for event in append.events:
            if type(event.data) is not bytes or event.recorded_at.tzinfo is not timezone.utc:
                # Keep an immutable copy of a bytearray; read back in UTC like the SQL store.
                event = StoredEvent(event.workflow_id, event.seq, event.run_id, event.type,
                                    _utc(event.recorded_at), bytes(event.data))
            wf.events.append((event, checksum(event.data)))
            run = wf.runs[-1] if wf.runs else None
            if run is None or run.run_id != event.run_id:
                wf.runs.append(RunSummary(event.run_id, event.seq, event.seq,
                                          event.recorded_at, event.recorded_at))
            else:
                wf.runs[-1] = RunSummary(run.run_id, run.first_seq, event.seq, run.started_at,
                                         event.recorded_at)
        if append.state is not None:
            wf.workflow_type = append.state.workflow_type
            wf.status = append.state.status
            wf.closed_at = last if append.state.closed else None
        for timer_id in append.cancel_timers:
            self._timers.pop((append.workflow_id, timer_id), None)
        for timer in append.schedule_timers:
            self._timers[(timer.workflow_id, timer.timer_id)] = _utc(timer.fire_at)
        return None

    # -- reading ---------------------------------------------------------

    def read_history_from(self, workflow_id: str, from_seq: int) -> list[StoredEvent]:
        with self._lock:
            wf = self._workflows.get(workflow_id)
            rows = list(wf.events[max(from_seq, 1) - 1:]) if wf is not None else []
        return [verify(event, crc) for event, crc in rows]

    def read_run_chain(self, workflow_id: str) -> list[RunSummary]:
        with self._lock:
            wf = self._workflows.get(workflow_id)
            return list(wf.runs) if wf is not None else []

    def get_summary(self, workflow_id: str) -> WorkflowSummary | None:
        with self._lock:
            wf = self._workflows.get(workflow_id)
            return wf.summary(workflow_id) if wf is not None else None

    def list_active(self) -> list[WorkflowSummary]:
        with self._lock:
            active = [wf.summary(wid) for wid, wf in self._workflows.items() if wf.closed_at is None]
        return sorted(active, key=lambda s: (s.started_at, s.workflow_id))

    def query(self, filter: WorkflowFilter = WorkflowFilter()) -> list[WorkflowSummary]:
        with self._lock:
            summaries = [wf.summary(wid) for wid, wf in self._workflows.items()]
        statuses = filter.statuses()

        def matches(s: WorkflowSummary) -> bool:
            if filter.workflow_type is not None and s.workflow_type != filter.workflow_type:
                return False
            if statuses is not None and s.status not in statuses:
                return False
            if filter.started_after is not None and s.started_at < filter.started_after:
                return False
            if filter.started_before is not None and s.started_at > filter.started_before:
                return False
            if filter.closed_after is not None and (s.closed_at is None or s.closed_at < filter.closed_after):
                return False
            if filter.closed_before is not None and (s.closed_at is None or s.closed_at > filter.closed_before):
                return False
            return True

        found = sorted((s for s in summaries if matches(s)), key=lambda s: s.workflow_id)
        found.sort(key=lambda s: s.started_at, reverse=True)  # stable: ties keep workflow_id order
        found = found[filter.offset:]
        return found if filter.limit is None else found[:filter.limit]

    # -- timers ----------------------------------------------------------

    def _sorted_timers(self) -> list[TimerRow]:
        rows = [TimerRow(wid, tid, fire_at) for (wid, tid), fire_at in self._timers.items()]
        return sorted(rows, key=lambda t: (t.fire_at, t.workflow_id, t.timer_id))

    def all_timers(self) -> list[TimerRow]:
        with self._lock:
            return self._sorted_timers()

    def timers_of(self, workflow_id: str) -> list[TimerRow]:
        with self._lock:
            return [t for t in self._sorted_timers() if t.workflow_id == workflow_id]

    # -- the request inbox -----------------------------------------------

    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        check_request(kind, workflow_id, body)
        with self._lock:
            request_id = next(self._request_ids)
            shard = None if workflow_id is None else shard_of(workflow_id, self._shards)
            self._requests[request_id] = Request(request_id, kind, workflow_id, bytes(body),
                                                 datetime.now(timezone.utc), shard=shard)
            return request_id

    def claim_requests(self, claimer: str, limit: int, shards: Iterable[int] | None = None) -> list[Request]:
        check_claim(claimer, limit)
        wanted = check_claim_shards(shards, self._shards)
        routed = None if wanted is None else set(wanted)
        with self._lock:
            free = itertools.islice((r for r in self._requests.values() if r.claimed_by is None
                                     and (routed is None or r.shard is None or r.shard in routed)), limit)
            claimed = [replace(r, claimed_by=claimer) for r in free]
            for r in claimed:
                self._requests[r.id] = r
            return claimed

    def release_claims(self, claimer: str) -> int:
        check_claimer(claimer)
        with self._lock:
            held = [r for r in self._requests.values() if r.claimed_by == claimer and not r.answered]
            for r in held:
                self._requests[r.id] = replace(r, claimed_by=None)
            return len(held)

    def answer_request(self, request_id: int, reply: bytes | None = None, error: str | None = None) -> bool:
        with self._lock:
            found = self._requests.get(request_id)
            if found is None:
                return False
            self._requests[request_id] = replace(found, answered=True, error=error,
                                                 reply=None if reply is None else bytes(reply))
            return True

    def get_request(self, request_id: int) -> Request | None:
        with self._lock:
            found = self._requests.get(request_id)
            if found is not None and found.answered:
                del self._requests[request_id]
            return found

    def withdraw_request(self, request_id: int) -> bool:
        with self._lock:
            found = self._requests.get(request_id)
            if found is None or found.claimed_by is not None:
                return False
            del self._requests[request_id]
            return True

    def prune_requests(self, created_before: datetime) -> int:
        check_cutoff(created_before)
        with self._lock:
            old = [i for i, r in self._requests.items() if r.created_at < created_before]
            for request_id in old:
                del self._requests[request_id]
            return len(old)
