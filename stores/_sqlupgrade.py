"""Creating `SqlStore`'s schema, or bringing a database of an older version up to it, in place.

Everything runs in the one transaction `SqlStore` opens for it, under the
schema lock, so two processes opening an old store at once upgrade it once
and a failed upgrade leaves the old version whole. Versions 1 and 2 only
lacked tables, which `create_all` adds; version 3's `requests` table lacked
the `shard` column, filled in Python, as `put_request` computes it (a store
holds a handful of pending requests, not millions). On SQLite, the `requests`
of versions 2 and 3 are also rebuilt: their ids were plain rowids, which
SQLite reuses once the highest rows are deleted, where version 4's are
AUTOINCREMENT; SQLite cannot alter that in place, so the rows move to a new
table, keeping their ids (PostgreSQL's sequence never went back, so there the
column is added). Version 4 lacked only the task queues' tables (`create_all`).
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
# What a version-3 store indexed its requests by, and the name the table is rebuilt from.
_OLD_INDEXES = ("ix_requests_claimed_by", "ix_requests_claim")
_REBUILT_FROM = "requests_before_v4"


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
    if version is not None and conn.dialect.name == "sqlite" and not _ids_never_reused(conn):
        _rebuild_requests(conn, shards, sharded=version not in _UNSHARDED_REQUESTS)
    elif version in _UNSHARDED_REQUESTS:
        _add_request_shards(conn, shards)
    if version is None:
        conn.execute(aion_meta.insert(), {"key": "schema_version", "value": SCHEMA_VERSION})
    elif version != SCHEMA_VERSION:
        conn.execute(update(aion_meta).where(aion_meta.c.key == "schema_version").values(value=SCHEMA_VERSION))
    return shards


def _ids_never_reused(conn: Connection) -> bool:
    """SQLite: whether `requests` was created AUTOINCREMENT (a version-4 layout)."""
    sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'requests'")).scalar()
    return "AUTOINCREMENT" in (sql or "").upper()


def _shard(workflow_id: str | None, shards: int) -> int | None:
    return None if workflow_id is None else shard_of(workflow_id, shards)


def _rebuild_requests(conn: Connection, shards: int, *, sharded: bool) -> None:
    """SQLite, versions 2 and 3 → 4: the pending requests, with their ids, into an AUTOINCREMENT table.

    The next id is then one above the highest kept; ids a version-3 store
    handed out above that and deleted are beyond knowing.
    """
    conn.execute(text(f"ALTER TABLE requests RENAME TO {_REBUILT_FROM}"))
    for index in _OLD_INDEXES:  # they moved with the table, and their names are the new table's
        conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
    requests.create(conn)
    kept = [c.name for c in requests.columns if sharded or c.name != "shard"]
    rows = [dict(row._mapping) for row in conn.execute(text(f"SELECT {', '.join(kept)} FROM {_REBUILT_FROM}"))]
    if not sharded:
        for row in rows:
            row["shard"] = _shard(row["workflow_id"], shards)
    if rows:
        conn.execute(requests.insert(), rows)
    conn.execute(text(f"DROP TABLE {_REBUILT_FROM}"))


def _add_request_shards(conn: Connection, shards: int) -> None:
    """PostgreSQL, version 3 → 4: address the pending requests to their workflows' shards, and index the claim."""
    conn.execute(text("ALTER TABLE requests ADD COLUMN shard INTEGER"))
    conn.execute(text("DROP INDEX IF EXISTS ix_requests_claimed_by"))  # the new index leads with its column
    for index in requests.indexes:
        index.create(conn)
    r = requests.c
    rows = conn.execute(select(r.id, r.workflow_id).where(r.workflow_id.is_not(None))).all()
    if rows:
        conn.execute(update(requests).where(r.id == bindparam("k_id")).values(shard=bindparam("k_shard")),
                     [{"k_id": request_id, "k_shard": _shard(workflow_id, shards)}
                      for request_id, workflow_id in rows])
