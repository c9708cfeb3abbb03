"""Creating `SqlStore`'s schema, or bringing a database of an older version up to it, in place.

Everything runs in the one transaction `SqlStore` opens for it, under the
schema lock, so two processes opening an old store at once upgrade it once
and a failed upgrade leaves the old version whole. Versions 1 and 2 only
lacked tables, which `create_all` adds; version 3's `requests` table lacked
the `shard` column, added here and filled in Python, as `put_request`
computes it (a store holds a handful of pending requests, not millions).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, inspect, select, text, update

from . import _sqlhooks as hooks
from ._sqlleases import init_shards
from .errors import StoreError
from .leases import shard_of
from .schema import SCHEMA_VERSION, UPGRADABLE, aion_meta, metadata, requests

# The versions whose `requests` table exists without the `shard` column.
_UNSHARDED_REQUESTS = ("2", "3")


def init_schema(conn: Connection, requested_shards: int | None, where: str) -> int:
    """Create the schema, or upgrade an older one; return the store's shard count.

    Raises:
        StoreError: the database was written by a schema version this one
            does not know, or has another shard count than `requested_shards`.
    """
    hooks.lock_schema(conn)
    version = None
    if inspect(conn).has_table(aion_meta.name):
        version = conn.execute(select(aion_meta.c.value).where(aion_meta.c.key == "schema_version")).scalar()
    if version is not None and version != SCHEMA_VERSION and version not in UPGRADABLE:
        raise StoreError(
            f"{where} was written by aion_actors schema version {version}; this version "
            f"understands {SCHEMA_VERSION}. Upgrade aion_actors or use another database."
        )
    metadata.create_all(conn)  # the tables an older version lacked, with their indexes
    shards = init_shards(conn, requested_shards, where)
    if version in _UNSHARDED_REQUESTS:
        _add_request_shards(conn, shards)
    if version is None:
        conn.execute(aion_meta.insert(), {"key": "schema_version", "value": SCHEMA_VERSION})
    elif version != SCHEMA_VERSION:
        conn.execute(update(aion_meta).where(aion_meta.c.key == "schema_version").values(value=SCHEMA_VERSION))
    return shards


def _add_request_shards(conn: Connection, shards: int) -> None:
    """Version 3 → 4: address the pending requests to their workflows' shards, and index the claim."""
    conn.execute(text("ALTER TABLE requests ADD COLUMN shard INTEGER"))
    conn.execute(text("DROP INDEX IF EXISTS ix_requests_claimed_by"))  # the new index leads with its column
    for index in requests.indexes:
        index.create(conn)
    r = requests.c
    rows = conn.execute(select(r.id, r.workflow_id).where(r.workflow_id.is_not(None))).all()
    if rows:
        conn.execute(update(requests).where(r.id == bindparam("k_id")).values(shard=bindparam("k_shard")),
                     [{"k_id": request_id, "k_shard": shard_of(workflow_id, shards)}
                      for request_id, workflow_id in rows])
