"""Databases written by schema versions 1 (no request inbox) and 2 (no shard leases) open and are upgraded in place."""

import sqlite3

import pytest

from stores import StoreError, shard_of
from stores.conformance import RUNNING, make_events
from stores.sql import SqlStore


def _downgrade_to_version_2(path) -> None:
    """What a version-2 file looks like: no cluster tables, no shard count, version "2"."""
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
    assert _version(path) == ("3",)


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
    assert _version(path) == ("3",)
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.shard_count() == expected


def test_an_unknown_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SqlStore(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE aion_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqlStore(f"sqlite:///{path}")
