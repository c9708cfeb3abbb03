"""A PostgreSQL store outlives its server closing connections (a restart, an idle timeout, a DBA)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from stores.url import open_store


def _terminate_clients_of(admin, database: str) -> int:
    with admin.connect() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).all())


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
