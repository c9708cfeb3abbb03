"""SQLite's task queues: an idle worker's poll must not take the write lock that appends need."""

import sqlite3
import time

from stores.sql import SqlStore
from stores.tasks import NewTask


def test_a_poll_of_idle_known_queues_claims_nothing_without_the_write_lock(tmp_path):
    path = tmp_path / "aion.db"
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.claim_tasks("w", ["gpu", "cpu"], 5, 60.0) == []  # the first poll makes the queues known
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            started = time.monotonic()
            assert store.claim_tasks("w", ["cpu", "gpu"], 5, 60.0) == []
            assert time.monotonic() - started < 5  # a write would wait out the 30 s busy timeout
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        task_id = store.put_task(NewTask("gpu", "wf", "r1", "a", 1, "t", b""))
        assert [t.id for t in store.claim_tasks("w", ["gpu", "cpu"], 5, 60.0)] == [task_id]
