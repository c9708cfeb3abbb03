"""The SQL schema of `SqlStore`, declared once for SQLite and PostgreSQL.

Timestamps are integer microseconds since the Unix epoch (UTC): both backends
store and compare them exactly, and no driver gets to guess a time zone.
`SCHEMA_VERSION` is written into `aion_meta`; a store refuses a database
whose version it does not know rather than guessing at its layout, and
upgrades the versions listed in `UPGRADABLE` in place: version 1 lacked the
`requests` table, version 2 the cluster's `nodes` and `shard_leases` (and the
`shards` count in `aion_meta`), version 3 the `shard` a request is addressed
to, and on SQLite its requests' ids could be reused; version 4 the task
queues (`task_queues`, `tasks`, `task_starts`); `stores._sqlupgrade`
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
    UniqueConstraint,
)

SCHEMA_VERSION = "5"
UPGRADABLE = ("1", "2", "3", "4")

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

# Task queues (`stores.tasks`). One row per queue defined or claimed from: its limits,
# and the row PostgreSQL claimers lock (`FOR UPDATE`) so that a queue's limits are
# counted by one claimer at a time across the cluster.
task_queues = Table(
    "task_queues",
    metadata,
    Column("name", Text, primary_key=True),
    Column("concurrency", Integer, nullable=True),
    Column("rate_limit", Integer, nullable=True),
    Column("rate_period_us", BigInteger, nullable=False),
    Column("partitioned", Boolean, nullable=False),
)

# One row per attempt of an activity run on a task queue. The claim index serves
# the claim's scan (a queue's pending rows in claim order) and its count of the
# queue's claimed rows; the unique key makes `put_task` idempotent and serves the
# owner's reads by workflow; ids are never reused (a late worker names a task by id).
tasks = Table(
    "tasks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("queue", Text, nullable=False),
    Column("workflow_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("activity_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("activity_type", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("partition_key", Text, nullable=True),
    Column("state", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),  # the store's clock, as every time below
    Column("claimed_by", Text, nullable=True),
    Column("token", BigInteger, nullable=False),
    Column("claimed_us", BigInteger, nullable=True),
    Column("lease_us", BigInteger, nullable=True),
    Column("cancel_requested", Boolean, nullable=False),
    Column("beats", Integer, nullable=False),
    Column("details", LargeBinary, nullable=True),
    Column("outcome", LargeBinary, nullable=True),
    UniqueConstraint("workflow_id", "run_id", "activity_id", "attempt", name="uq_tasks_attempt"),
    sqlite_autoincrement=True,
)
Index("ix_tasks_claim", tasks.c.queue, tasks.c.state, tasks.c.priority.desc(), tasks.c.id)
Index("ix_tasks_claimed_by", tasks.c.claimed_by)

# The claims a rate-limited queue made lately: what its rate limit counts, kept apart
# from `tasks` because a task is deleted once its owner consumed it, while its claim
# still counts for the rest of the period. Claims pruned past the period.
task_starts = Table(
    "task_starts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("queue", Text, nullable=False),
    Column("partition_key", Text, nullable=True),
    Column("started_us", BigInteger, nullable=False),  # the store's clock
    Index("ix_task_starts_queue", "queue", "started_us"),
)
