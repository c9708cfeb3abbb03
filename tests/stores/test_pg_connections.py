"""A PostgreSQL store outlives its server closing connections (a restart, an idle timeout, a DBA)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from stores.url import open_store
from tests.waiting import wait_for


def _terminate_clients_of(admin, database: str) -> int:
    """End every session on `database` and return how many, once they are all gone.

    `pg_terminate_backend` only signals: until a backend has exited, its client may
    see nothing yet, as with a server going down that instant.
    """
    others = "FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
    with admin.connect() as conn:
        ended = len(conn.execute(text(f"SELECT pg_terminate_backend(pid) {others}"), {"db": database}).all())
        wait_for(lambda: conn.execute(text(f"SELECT count(*) {others}"), {"db": database}).scalar() == 0,
                 timeout=10, what="the terminated sessions to exit")
    return ended


def test_calls_after_the_server_closed_every_pooled_connection_succeed(postgres_admin, postgres_url):
    database = postgres_url.rsplit("/", 1)[1]
    with open_store(postgres_url) as store:
        # Several threads at once leave several connections in the pool.
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: store.put_request("signal", f"wf-{i}", b"x"), range(40)))
        assert _terminate_clients_of(postgres_admin, database) >= 2
        # Each call below checks out a pooled connection the server has closed;
        # none of them may surface that as an error.
        for i in range(8):
            store.put_request("signal", f"after-{i}", b"y")
            assert store.get_summary(f"after-{i}") is None
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: store.put_request("signal", f"again-{i}", b"z"), range(40)))


def test_a_client_frozen_inside_a_transaction_stalls_others_only_briefly(monkeypatch, postgres_url):
    """A node frozen (SIGSTOP) mid-transaction holds row locks; the server ends its session."""
    import time

    from stores import _sqlhooks

    monkeypatch.setattr(_sqlhooks, "IDLE_IN_TRANSACTION_S", 1.0)
    with open_store(postgres_url) as frozen, open_store(postgres_url) as survivor:
        assert frozen.acquire(0, "frozen", ttl=0.2) is not None
        conn = frozen._engine.connect()
        conn.begin()
        conn.execute(text("SELECT token FROM shard_leases WHERE shard = 0 FOR UPDATE"))
        time.sleep(0.3)  # its lease lapses while it holds the row
        with ThreadPoolExecutor(1) as pool:
            taken = pool.submit(survivor.acquire, 0, "survivor", 10)
            try:
                assert taken.result(timeout=10) is not None  # not stalled for as long as the other is frozen
            finally:
                conn.invalidate()
