"""A database written by schema version 1 (no request inbox) opens and is upgraded in place."""

import sqlite3

import pytest

from stores import StoreError
from stores.conformance import RUNNING, make_events
from stores.sql import SqlStore


def _downgrade_to_version_1(path) -> None:
    """What a version-1 file looks like: the same tables minus `requests`, version "1"."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE requests")
        conn.execute("UPDATE aion_meta SET value = '1' WHERE key = 'schema_version'")
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
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM aion_meta WHERE key = 'schema_version'").fetchone() == ("2",)
    conn.close()


def test_an_unknown_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SqlStore(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE aion_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqlStore(f"sqlite:///{path}")
