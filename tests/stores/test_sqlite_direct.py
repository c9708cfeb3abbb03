"""SQLite's hot path (`hooks.SqliteDirect`): what the conformance suite does not reach.

Appends, `get_summary` and `read_history_from` run on the sqlite3 connection
itself there; these tests check that damaged rows, driver errors, the busy
timeout and closing still behave as on the SQLAlchemy path.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Iterator

import pytest

from stores import _sqlhooks as hooks
from stores.base import Append, WorkflowState
from stores.conformance import RUNNING, create, make_events
from stores.errors import SequenceConflict, StoreError
from stores.sql import SqlStore


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path}/aion.db" if request.param == "file" else "sqlite://")
    try:
        yield store
    finally:
        store.close()


def _execute(store: SqlStore, sql: str, *params: object) -> int:
    """Run one statement on a connection of the store's own pool (in memory: the database's only one)."""
    checked_out = store._engine.raw_connection()
    try:
        return checked_out.driver_connection.execute(sql, params).rowcount
    finally:
        checked_out.close()


@pytest.mark.parametrize("damage", [
    "UPDATE events SET crc = NULL WHERE workflow_id = ? AND seq = 3",
    "UPDATE events SET data = 'text, not bytes' WHERE workflow_id = ? AND seq = 3",
    "UPDATE events SET recorded_at_us = 'soon' WHERE workflow_id = ? AND seq = 3",
    "UPDATE events SET recorded_at_us = 1e30 WHERE workflow_id = ? AND seq = 3",
    "UPDATE events SET run_id = x'07' WHERE workflow_id = ? AND seq = 3",
    "UPDATE events SET crc = crc + 1 WHERE workflow_id = ? AND seq = 3",
])
def test_damaged_event_rows_raise_store_error_naming_workflow_and_seq(store: SqlStore, damage: str) -> None:
    create(store, "wf-1", n=5)
    assert _execute(store, damage, "wf-1") == 1
    with pytest.raises(StoreError) as info:
        store.read_history("wf-1")
    assert not isinstance(info.value, SequenceConflict)
    assert "'wf-1'" in str(info.value) and "seq 3" in str(info.value), str(info.value)
    assert [e.seq for e in store.read_history_from("wf-1", 4)] == [4, 5]


def test_driver_error_in_an_append_rolls_it_back_and_leaves_the_store_usable(store: SqlStore) -> None:
    create(store, "wf-1", n=2)
    create(store, "wf-2", n=1)
    stray = make_events("wf-1", 3, 1)[0]
    _execute(store, "INSERT INTO events (workflow_id, seq, run_id, type, recorded_at_us, data, crc) "
                    "VALUES (?, 3, 'x', 'x', 0, x'00', 0)", stray.workflow_id)
    with pytest.raises(StoreError, match="database error while appending events.*UNIQUE") as info:
        store.append_batch([Append("wf-2", 1, make_events("wf-2", 2, 1)),
                            Append("wf-1", 2, (stray,), WorkflowState("order", "paused"))])
    assert not isinstance(info.value, SequenceConflict)
    # The whole batch was rolled back, wf-2's well-formed append included.
    assert (store.get_summary("wf-1").last_seq, store.get_summary("wf-1").status) == (2, "running")
    assert store.get_summary("wf-2").last_seq == 1 and len(store.read_history("wf-2")) == 1
    _execute(store, "DELETE FROM events WHERE workflow_id = 'wf-1' AND seq = 3")
    assert store.append("wf-1", [stray], 2) == 3
    assert store.append("wf-2", make_events("wf-2", 2, 1), 1) == 2


def test_appends_wait_for_another_writer_up_to_the_busy_timeout(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "BUSY_TIMEOUT_S", 0.3)
    path = tmp_path / "aion.db"
    with SqlStore(f"sqlite:///{path}") as store:
        create(store, "wf-1")
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            start = time.monotonic()
            with pytest.raises(StoreError, match="stayed locked by another writer"):
                store.append("wf-1", make_events("wf-1", 2, 1), 1)
            assert time.monotonic() - start >= 0.25
            assert store.get_summary("wf-1").last_seq == 1  # readers are not blocked by the writer
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert store.append("wf-1", make_events("wf-1", 2, 1), 1) == 2


def test_a_conflicting_batch_still_commits_its_winners(store: SqlStore) -> None:
    create(store, "wf-1", n=1)
    outcomes = store.append_batch([Append("wf-1", 0, make_events("wf-1", 1, 1), RUNNING),
                                   Append("wf-new", 0, make_events("wf-new", 1, 2), RUNNING),
                                   Append("wf-1", 1, make_events("wf-1", 2, 1), WorkflowState("order", "done", True))])
    assert isinstance(outcomes[0], SequenceConflict) and outcomes[1:] == [None, None]
    summary = store.get_summary("wf-1")
    assert (summary.last_seq, summary.status, summary.closed_at) == (2, "done", make_events("wf-1", 2, 1)[0].recorded_at)
    assert store.list_active()[0].workflow_id == "wf-new"


def test_closed_store_refuses_the_hot_path(store: SqlStore) -> None:
    create(store, "wf-1")
    store.close()
    for call in (lambda: store.append("wf-1", make_events("wf-1", 2, 1), 1),
                 lambda: store.get_summary("wf-1"), lambda: store.read_history("wf-1")):
        with pytest.raises(StoreError, match="closed"):
            call()
