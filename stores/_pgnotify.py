"""Request notices on PostgreSQL: a node hears of a request for its shards the moment it is committed.

`put_request` on PostgreSQL also runs ``pg_notify('aion_requests', shard)`` in
its own transaction, so the notice is sent when (and only if) the request
is committed. A node keeps one connection LISTENing on that channel; its
payload is the shard number as decimal text (empty for a request about no
workflow), read as an int and nothing else. The notices are a hint, as a
wake-up datagram is: a lost one costs a poll interval, the table stays the
truth. Needs no network path between nodes beyond the database, so it is
the fast path across machines sharing PostgreSQL.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import make_url

CHANNEL = "aion_requests"


def notice_sql() -> str:
    """The statement `put_request` adds to its transaction (bind `shard` as text, '' for none)."""
    return f"SELECT pg_notify('{CHANNEL}', :shard)"


class RequestNotices:
    """A LISTENing connection: `wait(timeout)` returns the shards (None: no workflow) of the requests
    put since the last call, empty after `timeout` seconds without one. One thread waits; `close()`
    may come from any thread.

    Args:
        url: the store's SQLAlchemy URL (``postgresql+psycopg://...``).
    """

    def __init__(self, url: str) -> None:
        import psycopg

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self._closed = threading.Event()

    def wait(self, timeout: float) -> set[int | None]:
        shards: set[int | None] = set()
        if self._closed.is_set():
            return shards
        try:
            for notice in self._conn.notifies(timeout=timeout, stop_after=1):
                shards.add(_shard(notice.payload))
            for notice in self._conn.notifies(timeout=0):  # what else arrived meanwhile, without waiting
                shards.add(_shard(notice.payload))
        except Exception:
            if not self._closed.is_set():
                raise
        return shards

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._conn.close()


def _shard(payload: str) -> int | None:
    return int(payload) if payload.isdigit() else None
