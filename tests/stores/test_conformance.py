"""The conformance suites (`EventStore`, `RequestInbox`, `TaskQueues`) on every bundled backend."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.pool import NullPool

from stores import EventStore, EventStoreConformance, InMemoryStore, RequestInbox, RequestInboxConformance, open_store
from stores.conformance_tasks import TaskQueuesConformance
from stores.schema import events
from stores.sql import SqlStore

POSTGRES_URL = os.environ.get("AION_TEST_POSTGRES_URL")
GARBAGE = b"\xde\xad\xbe\xef not what was written"


def _corrupt_with(engine, workflow_id: str, seq: int) -> None:
    with engine.begin() as conn:
        result = conn.execute(update(events).where(events.c.workflow_id == workflow_id, events.c.seq == seq)
                              .values(data=GARBAGE))
        assert result.rowcount == 1


class TestInMemoryStore(EventStoreConformance):
    def make_store(self, tmp_path: Path) -> EventStore:
        return InMemoryStore()

    def store_url(self, tmp_path: Path) -> None:
        return None

    def corrupt_event(self, store: InMemoryStore, workflow_id: str, seq: int) -> None:
        rows = store._workflows[workflow_id].events
        event, crc = rows[seq - 1]
        rows[seq - 1] = (replace(event, data=GARBAGE), crc)


class TestSqliteFileStore(EventStoreConformance):
    def make_store(self, tmp_path: Path) -> EventStore:
        return SqlStore(self.store_url(tmp_path))

    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/aion.db"

    def corrupt_event(self, store: EventStore, workflow_id: str, seq: int) -> None:
        path = store._engine.url.database  # the file, written by a connection of our own
        conn = sqlite3.connect(path)
        try:
            with conn:
                cursor = conn.execute("UPDATE events SET data = ? WHERE workflow_id = ? AND seq = ?",
                                      (GARBAGE, workflow_id, seq))
                assert cursor.rowcount == 1
        finally:
            conn.close()


class TestSqliteMemoryStore(EventStoreConformance):
    def make_store(self, tmp_path: Path) -> EventStore:
        return SqlStore("sqlite://")

    def store_url(self, tmp_path: Path) -> None:
        return None

    def corrupt_event(self, store: EventStore, workflow_id: str, seq: int) -> None:
        _corrupt_with(store._engine, workflow_id, seq)  # the in-memory database lives in that engine


_NEEDS_POSTGRES = pytest.mark.skipif(not POSTGRES_URL, reason="set AION_TEST_POSTGRES_URL to run the PostgreSQL "
                                                                "conformance suite (.ci/run does)")


@pytest.mark.postgres
@_NEEDS_POSTGRES
class TestPostgresStore(EventStoreConformance):
    @pytest.fixture(autouse=True)
    def _fresh_database(self, postgres_url: str) -> None:
        self._url = postgres_url

    def make_store(self, tmp_path: Path) -> EventStore:
        return SqlStore(self._url)

    def store_url(self, tmp_path: Path) -> str:
        return self._url

    def corrupt_event(self, store: EventStore, workflow_id: str, seq: int) -> None:
        engine = create_engine(self._url, poolclass=NullPool)
        try:
            _corrupt_with(engine, workflow_id, seq)
        finally:
            engine.dispose()


class TestInMemoryRequestInbox(RequestInboxConformance):
    def make_inbox(self, tmp_path: Path) -> RequestInbox:
        return InMemoryStore()

    def make_sharded_inbox(self, tmp_path: Path, shards: int) -> RequestInbox:
        return open_store("memory:", shards=shards)


class TestSqliteFileRequestInbox(RequestInboxConformance):
    def make_inbox(self, tmp_path: Path) -> RequestInbox:
        return SqlStore(self.inbox_url(tmp_path))

    def inbox_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/aion.db"


class TestSqliteMemoryRequestInbox(RequestInboxConformance):
    def make_inbox(self, tmp_path: Path) -> RequestInbox:
        return SqlStore("sqlite://")

    def make_sharded_inbox(self, tmp_path: Path, shards: int) -> RequestInbox:
        return open_store("sqlite://", shards=shards)


@pytest.mark.postgres
@_NEEDS_POSTGRES
class TestPostgresRequestInbox(RequestInboxConformance):
    @pytest.fixture(autouse=True)
    def _fresh_database(self, postgres_url: str) -> None:
        self._url = postgres_url

    def make_inbox(self, tmp_path: Path) -> RequestInbox:
        return SqlStore(self._url)

    def inbox_url(self, tmp_path: Path) -> str:
        return self._url


class TestInMemoryTaskQueues(TaskQueuesConformance):
    def make_store(self, tmp_path: Path) -> InMemoryStore:
        return InMemoryStore()


class TestSqliteFileTaskQueues(TaskQueuesConformance):
    def make_store(self, tmp_path: Path) -> SqlStore:
        return SqlStore(self.store_url(tmp_path))

    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/aion.db"


@pytest.mark.postgres
@_NEEDS_POSTGRES
class TestPostgresTaskQueues(TaskQueuesConformance):
    @pytest.fixture(autouse=True)
    def _fresh_database(self, postgres_url: str) -> None:
        self._url = postgres_url

    def make_store(self, tmp_path: Path) -> SqlStore:
        return SqlStore(self._url)

    def store_url(self, tmp_path: Path) -> str:
        return self._url
