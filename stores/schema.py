"""The SQL schema of `SqlStore`, declared once for SQLite and PostgreSQL.

Timestamps are integer microseconds since the Unix epoch (UTC): both backends
store and compare them exactly, and no driver gets to guess a time zone.
`SCHEMA_VERSION` is written into `aion_meta`; a store refuses a database
whose version it does not know rather than guessing at its layout, and
upgrades the versions listed in `UPGRADABLE` in place: version 1 lacked the
`requests` table, version 2 the cluster's `nodes` and `shard_leases` (and the
`shards` count in `aion_meta`), version 3 the `shard` a request is addressed
to, and on SQLite its requests' ids could be reused; `stores._sqlupgrade`
brings an older database to this layout.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

SCHEMA_VERSION = "4"
UPGRADABLE = ("1", "2", "3")

metadata = MetaData()

aion_meta = Table(
    "aion_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

workflows = Table(
    "workflows",
    metadata,
    # A surrogate key gives "creation order" for free (SQLite rowid, PostgreSQL
    # identity) where `started_at_us` is caller-supplied and may not be monotonic.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("workflow_id", Text, nullable=False, unique=True),
    Column("workflow_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("started_at_us", BigInteger, nullable=False),
    Column("closed_at_us", BigInteger, nullable=True),
    Column("last_seq", Integer, nullable=False),
    Column("run_count", Integer, nullable=False),
    Column("last_run_id", Text, nullable=False),
    Index("ix_workflows_status", "status"),
    Index("ix_workflows_workflow_type", "workflow_type"),
    Index("ix_workflows_closed", "closed"),
    Index("ix_workflows_started_at_us", "started_at_us"),
)

events = Table(
    "events",
    metadata,
    Column("workflow_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("recorded_at_us", BigInteger, nullable=False),
    # Nullable on purpose: a damaged row must be readable far enough to be
    # reported as corrupted (`stores.base.verify`), not fail inside the driver.
    Column("data", LargeBinary, nullable=True),
    Column("crc", BigInteger, nullable=True),
    # SQLite keeps its rowid here on purpose: many workflows append at once, and
    # a rowid table takes their rows in arrival order (a few dirty pages per
    # commit) where clustering on (workflow_id, seq) dirtied one page per
    # workflow and halved batched-append throughput.
    PrimaryKeyConstraint("workflow_id", "seq"),
)

timers = Table(
    "timers",
    metadata,
    Column("workflow_id", Text, nullable=False),
    Column("timer_id", Text, nullable=False),
    Column("fire_at_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("workflow_id", "timer_id"),
    Index("ix_timers_fire_at_us", "fire_at_us"),
    sqlite_with_rowid=False,
)

# The request inbox: commands from other processes (the `aion` CLI) to the
# engine serving the workflows, which alone may append to their histories.
# `shard` is the workflow's (`stores.leases.shard_of`), NULL for a request about
# no workflow: the owner of a shard claims the unclaimed rows of its shards, so
# the index leads with what that poll filters on. Ids are never reused (SQLite:
# AUTOINCREMENT, not a rowid that hands out a deleted highest id again): a
# client still polling a request that was pruned must not read another's answer.
requests = Table(
    "requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("workflow_id", Text, nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("claimed_by", Text, nullable=True),
    Column("answered", Boolean, nullable=False),
    Column("reply", LargeBinary, nullable=True),
    Column("error", Text, nullable=True),
    Column("shard", Integer, nullable=True),
    Index("ix_requests_claim", "claimed_by", "shard"),
    sqlite_autoincrement=True,
)

# The cluster (`stores.leases`): one row per node that ever sent a heartbeat, and one
# per shard, created with the store, so taking a shard is an UPDATE of an existing row.
nodes = Table(
    "nodes",
    metadata,
    Column("node_id", Text, primary_key=True),
    Column("info", Text, nullable=False),
    Column("heartbeat_us", BigInteger, nullable=False),  # the store's clock
    Column("beats", BigInteger, nullable=False),
)

shard_leases = Table(
    "shard_leases",
    metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("owner", Text, nullable=True),
    Column("token", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=True),  # the store's clock
)
