"""Databases written by schema versions 1 (no request inbox), 2 (no shard leases), 3 (requests without
their shard) and 4 (no task queues) open and are upgraded in place."""

import sqlite3

import pytest

from stores import StoreError, shard_of
from stores.conformance import RUNNING, make_events
from stores.sql import SqlStore
from stores.tasks import NewTask, QueueLimits


_VERSION_3_REQUESTS = """CREATE TABLE requests (
    id INTEGER NOT NULL, kind TEXT NOT NULL, workflow_id TEXT, body BLOB NOT NULL, created_at_us BIGINT NOT NULL,
    claimed_by TEXT, answered BOOLEAN NOT NULL, reply BLOB, error TEXT, PRIMARY KEY (id))"""


def _downgrade_to_version_4(path) -> None:
    """What a version-4 file looks like: no task queues' tables, version "4"."""
    conn = sqlite3.connect(path)
    with conn:
        for table in ("task_starts", "tasks", "task_queues"):
            conn.execute(f"DROP TABLE {table}")  # their indexes go with them
        conn.execute("UPDATE aion_meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()


def _downgrade_to_version_3(path) -> None:
    """What a version-3 file looks like: requests have no `shard`, are indexed by claimer alone, and their
    ids are plain rowids (no AUTOINCREMENT)."""
    _downgrade_to_version_4(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP INDEX ix_requests_claim")
        conn.execute("ALTER TABLE requests RENAME TO requests_v4")
        conn.execute(_VERSION_3_REQUESTS)
        conn.execute("INSERT INTO requests SELECT id, kind, workflow_id, body, created_at_us, claimed_by, "
                     "answered, reply, error FROM requests_v4")
        conn.execute("DROP TABLE requests_v4")
        conn.execute("CREATE INDEX ix_requests_claimed_by ON requests (claimed_by)")
        conn.execute("UPDATE aion_meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()


def _downgrade_to_version_2(path) -> None:
    """What a version-2 file looks like: no cluster tables, no shard count, version "2"."""
    _downgrade_to_version_3(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE nodes")
        conn.execute("DROP TABLE shard_leases")
        conn.execute("DELETE FROM aion_meta WHERE key = 'shards'")
        conn.execute("UPDATE aion_meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()


def _downgrade_to_version_1(path) -> None:
    """What a version-1 file looks like: the version-2 tables minus `requests`, version "1"."""
    _downgrade_to_version_2(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE requests")
        conn.execute("UPDATE aion_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


def _version(path) -> tuple[str]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT value FROM aion_meta WHERE key = 'schema_version'").fetchone()
    finally:
        conn.close()


def _request_indexes(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                  "AND tbl_name = 'requests' AND sql IS NOT NULL ORDER BY name")]
    finally:
        conn.close()


def test_a_version_1_file_opens_keeps_its_history_and_gains_the_inbox(tmp_path):
    path = tmp_path / "old.db"
    with SqlStore(f"sqlite:///{path}") as store:
        store.append("wf", make_events("wf", 1, 3), 0, RUNNING)
    _downgrade_to_version_1(path)
    with SqlStore(f"sqlite:///{path}") as store:
        assert [e.seq for e in store.read_history("wf")] == [1, 2, 3]
        request_id = store.put_request("signal", "wf", b"x")
        assert [r.id for r in store.claim_requests("me", 5)] == [request_id]
        assert store.acquire(0, "node-a", 60.0) == 1
    assert _version(path) == ("5",)


@pytest.mark.parametrize("shards", [None, 8])
def test_a_version_2_file_opens_keeps_its_history_and_gains_free_shards(tmp_path, shards):
    path = tmp_path / "old.db"
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        store.append("wf", make_events("wf", 1, 3), 0, RUNNING)
        store.put_request("signal", "wf", b"x")
    _downgrade_to_version_2(path)
    with SqlStore(f"sqlite:///{path}", shards=shards) as store:
        assert [e.seq for e in store.read_history("wf")] == [1, 2, 3]
        assert [r.kind for r in store.claim_requests("me", 5)] == ["signal"]
        expected = 64 if shards is None else shards  # an old store gets the count of a new one
        assert store.shard_count() == expected
        assert [(r.shard, r.owner, r.token) for r in store.leases()] == [(s, None, 0) for s in range(expected)]
        shard = shard_of("wf", expected)
        token = store.acquire(shard, "node-a", 60.0)
        assert token == 1
        assert store.append("wf", make_events("wf", 4, 1), 3, fence=(shard, token)) == 4
    assert _version(path) == ("5",)
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.shard_count() == expected


def test_a_version_3_file_addresses_its_pending_requests_to_their_shards(tmp_path):
    path = tmp_path / "old.db"
    workflows = [f"order-{i}" for i in range(12)]
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        store.append("wf", make_events("wf", 1, 3), 0, RUNNING)
        pending = [store.put_request("signal", w, b"x") for w in workflows]
        unrouted = store.put_request("start", None, b"")
        [taken] = store.claim_requests("node-that-died", 1)
    _downgrade_to_version_3(path)
    with SqlStore(f"sqlite:///{path}") as store:
        assert [e.seq for e in store.read_history("wf")] == [1, 2, 3]
        assert [store.get_request(i).shard for i in pending] == [shard_of(w, 4) for w in workflows]
        assert store.get_request(unrouted).shard is None
        assert store.release_claims("node-that-died") == 1
        shard_1 = store.claim_requests("owner-of-1", 20, shards=[1])
        assert [r.id for r in shard_1] == [i for i, w in zip(pending, workflows) if shard_of(w, 4) == 1] + [unrouted]
        rest = store.claim_requests("owner-of-the-rest", 20, shards=[0, 2, 3])
        assert sorted(r.id for r in shard_1 + rest) == sorted(pending + [unrouted])
        assert taken.id in {r.id for r in rest + shard_1}
    assert _version(path) == ("5",)
    assert _request_indexes(path) == ["ix_requests_claim"]


def _requests_autoincrement(path) -> bool:
    conn = sqlite3.connect(path)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'requests'").fetchone()
        return "AUTOINCREMENT" in sql.upper()
    finally:
        conn.close()


def test_a_version_3_file_keeps_its_request_ids_and_never_reuses_one_again(tmp_path):
    path = tmp_path / "old.db"
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        kept = [store.put_request("signal", f"order-{i}", b"%d" % i) for i in range(3)]
        highest = store.put_request("signal", "order-3", b"3")
        store.claim_requests("node", 1)
    _downgrade_to_version_3(path)
    assert not _requests_autoincrement(path)
    with SqlStore(f"sqlite:///{path}") as store:
        assert [(store.get_request(i).body, store.get_request(i).shard) for i in kept] == \
            [(b"%d" % i, shard_of(f"order-{i}", 4)) for i in range(3)]
        assert store.get_request(kept[0]).claimed_by == "node"
        assert store.answer_request(highest, reply=b"done")
        assert store.get_request(highest).reply == b"done"  # read, so deleted: the highest id is gone
        assert store.put_request("signal", "wf", b"") > highest
    assert _requests_autoincrement(path)
    assert _request_indexes(path) == ["ix_requests_claim"]


def test_an_upgrade_that_fails_leaves_version_3_whole(tmp_path, monkeypatch):
    from stores import _sqlupgrade

    path = tmp_path / "old.db"
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        request_id = store.put_request("signal", "wf", b"x")
    _downgrade_to_version_3(path)

    def broken(workflow_id, shards):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(_sqlupgrade, "shard_of", broken)
    with pytest.raises(RuntimeError, match="disk went away"):
        SqlStore(f"sqlite:///{path}")
    assert _version(path) == ("3",)
    assert _request_indexes(path) == ["ix_requests_claimed_by"]
    monkeypatch.undo()
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.get_request(request_id).shard == shard_of("wf", 4)
    assert _version(path) == ("5",)


def _task_indexes(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                  "AND tbl_name LIKE 'task%' AND sql IS NOT NULL ORDER BY name")]
    finally:
        conn.close()


def test_a_version_4_file_keeps_everything_and_gains_the_task_queues(tmp_path):
    path = tmp_path / "old.db"
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        store.append("wf", make_events("wf", 1, 3), 0, RUNNING)
        request_id = store.put_request("signal", "wf", b"x")
        assert store.acquire(1, "node-a", 60.0) == 1
    _downgrade_to_version_4(path)
    assert _version(path) == ("4",) and _task_indexes(path) == []
    with SqlStore(f"sqlite:///{path}") as store:
        assert [e.seq for e in store.read_history("wf")] == [1, 2, 3]
        assert store.get_request(request_id).shard == shard_of("wf", 4)
        assert store.leases()[1].token == 1
        store.define_queue("gpu", QueueLimits(concurrency=1))
        task_id = store.put_task(NewTask("gpu", "wf", "r1", "1", 1, "render", b"in"))
        [claimed] = store.claim_tasks("worker", ["gpu"], 5, 60.0)
        assert claimed.id == task_id and store.finish_task(task_id, claimed.token, b"out")
    assert _version(path) == ("5",)
    assert _task_indexes(path) == ["ix_task_starts_queue", "ix_tasks_claim", "ix_tasks_claimed_by"]
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.queue_limits("gpu") == QueueLimits(concurrency=1)


def test_a_version_1_file_gains_the_sharded_inbox(tmp_path):
    path = tmp_path / "old.db"
    SqlStore(f"sqlite:///{path}", shards=4).close()
    _downgrade_to_version_1(path)
    with SqlStore(f"sqlite:///{path}", shards=4) as store:
        request_id = store.put_request("signal", "wf", b"x")
        assert [r.id for r in store.claim_requests("me", 5, shards=[shard_of("wf", 4)])] == [request_id]
    assert _request_indexes(path) == ["ix_requests_claim"]


def test_an_unknown_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SqlStore(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE aion_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqlStore(f"sqlite:///{path}")


@pytest.mark.postgres
def test_a_version_3_postgres_database_addresses_its_pending_requests_to_their_shards(postgres_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    with SqlStore(postgres_url, shards=4) as store:
        pending = [store.put_request("signal", f"order-{i}", b"x") for i in range(6)]
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:  # what a version-3 database looks like
            conn.execute(text("DROP INDEX ix_requests_claim"))
            conn.execute(text("ALTER TABLE requests DROP COLUMN shard"))
            conn.execute(text("CREATE INDEX ix_requests_claimed_by ON requests (claimed_by)"))
            conn.execute(text("UPDATE aion_meta SET value = '3' WHERE key = 'schema_version'"))
        with SqlStore(postgres_url) as store:
            assert [store.get_request(i).shard for i in pending] == [shard_of(f"order-{i}", 4) for i in range(6)]
            wanted = {shard_of("order-0", 4)}
            got = store.claim_requests("owner", 10, shards=wanted)
            assert [r.id for r in got] == [i for n, i in enumerate(pending) if shard_of(f"order-{n}", 4) in wanted]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM aion_meta WHERE key = 'schema_version'")).scalar() == "5"
            assert conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'requests' "
                                     "AND indexname LIKE 'ix_%'")).scalars().all() == ["ix_requests_claim"]
    finally:
        engine.dispose()
