"""`open_store`: from a URL string to an `EventStore`."""

from __future__ import annotations

from .base import EventStore
from .errors import StoreError

_FORMS = "sqlite:///path.db, sqlite:// (SQLite in memory), postgresql+psycopg://user@host/db or memory:"


def open_store(url: str = "sqlite:///aion.db", *, durability: str = "process",
               shards: int | None = None) -> EventStore:
    """Open the store a URL names: an `EventStore` that is also a `RequestInbox`.

    Args:
        url: `sqlite:///path.db`, `sqlite://`, `postgresql+psycopg://user@host/db`,
            or `memory:` for the process-local `InMemoryStore` (nothing survives
            the process; `durability` is ignored there).
        durability: `"process"` or `"fsync"`; see `stores.sql.SqlStore`.
        shards: the shard count (`stores.leases`) of a store created now,
            default 64; an existing store keeps its own and refuses another.

    Raises:
        StoreError: the URL is not one of the forms above, or the database
            cannot be opened, or has another shard count than `shards`.
    """
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"store URL must be a non-empty string: one of {_FORMS}; got {url!r}")
    if url.strip() == "memory:":
        from .memory import InMemoryStore  # deferred: the SQL stack is not needed for it

        return InMemoryStore() if shards is None else InMemoryStore(shards=shards)
    from .sql import SqlStore

    return SqlStore(url, durability=durability, shards=shards)
