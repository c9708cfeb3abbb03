"""Append throughput of `SqlStore` against raw driver inserts of the same rows.

Two workloads, each on SQLite (durability "process" = WAL + synchronous=NORMAL,
"fsync" = WAL + synchronous=FULL) and, when a URL is given, PostgreSQL:

- single: one event per transaction, `--single-events` appends in sequence,
  round-robin over 100 workflows (the first 100 appends create them).
- batch: `append_batch` of 100 Appends per transaction, 100 workflows x 1 event
  each (the first batch creates the workflows, later ones extend them), until
  `--events` events are written.

The reference for each is the driver alone (sqlite3 / psycopg) inserting the
same event rows (same columns, same 256-byte payloads) into the same tables
with the same PRAGMAs: one row per commit, or one executemany of 100 rows per
commit. The store additionally maintains the workflows row per append, which
the reference does not; the ratio includes that work.

    python benchmarks/store_append.py --runs 5 [--postgres URL]

PostgreSQL comes from `--postgres` or AION_TEST_POSTGRES_URL; without either
it is skipped with a note. Every run starts from an empty database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stores._checks import checksum  # noqa: E402  (the CRC the store keeps beside each event)
from stores.base import Append, StoredEvent, WorkflowState  # noqa: E402
from stores.sql import SqlStore  # noqa: E402

WORKFLOWS = 100
PAYLOAD = bytes(range(256))
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
STATE = WorkflowState("bench.Workflow", "running")
RUN_ID = "run-" + "0" * 28


def _event(wf: str, seq: int, n: int) -> StoredEvent:
    return StoredEvent(wf, seq, RUN_ID, "ActivityCompleted", T0 + timedelta(microseconds=n), PAYLOAD)


def _wf(i: int) -> str:
    return f"wf-{i:06d}"


# -- workloads through the store ---------------------------------------------

def store_single(url: str, durability: str, n: int) -> float:
    with SqlStore(url, durability=durability) as store:
        seqs = [0] * WORKFLOWS
        start = time.perf_counter()
        for k in range(n):
            i = k % WORKFLOWS
            wf = _wf(i)
            store.append(wf, [_event(wf, seqs[i] + 1, k)], seqs[i], STATE if seqs[i] == 0 else None)
            seqs[i] += 1
        return n / (time.perf_counter() - start)


def store_batch(url: str, durability: str, n: int) -> float:
    with SqlStore(url, durability=durability) as store:
        seq, k = 0, 0
        start = time.perf_counter()
        while k < n:
            batch = []
            for i in range(WORKFLOWS):
                wf = _wf(i)
                batch.append(Append(wf, seq, (_event(wf, seq + 1, k),), STATE if seq == 0 else None))
                k += 1
            assert not any(store.append_batch(batch))
            seq += 1
        return k / (time.perf_counter() - start)


# -- the same event rows through the bare driver ------------------------------

def _rows(n: int):
    """Event rows in the store's column order, built inside the timed loop like the store does."""
    for k in range(n):
        i, seq = k % WORKFLOWS, k // WORKFLOWS + 1
        ev = _event(_wf(i), seq, k)
        us = (ev.recorded_at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
        yield (ev.workflow_id, ev.seq, ev.run_id, ev.type, us, ev.data, checksum(ev.data))


INSERT = "INSERT INTO events (workflow_id, seq, run_id, type, recorded_at_us, data, crc) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _raw_sqlite(path: str, durability: str) -> sqlite3.Connection:
    SqlStore(f"sqlite:///{path}", durability=durability).close()  # identical tables and indexes
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'NORMAL' if durability == 'process' else 'FULL'}")
    return conn


def raw_sqlite_single(path: str, durability: str, n: int) -> float:
    conn = _raw_sqlite(path, durability)
    start = time.perf_counter()
    for row in _rows(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT, row)
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def raw_sqlite_batch(path: str, durability: str, n: int) -> float:
    conn = _raw_sqlite(path, durability)
    rows = _rows(n)
    start = time.perf_counter()
    for _ in range(0, n, WORKFLOWS):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, [next(rows) for _ in range(WORKFLOWS)])
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def _raw_pg(url: str):
    import psycopg

    SqlStore(url).close()
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def raw_pg_single(url: str, n: int) -> float:
    with _raw_pg(url) as conn:
        start = time.perf_counter()
        for row in _rows(n):
            with conn.transaction():
                conn.execute(INSERT.replace("?", "%s"), row)
        return n / (time.perf_counter() - start)


def raw_pg_batch(url: str, n: int) -> float:
    with _raw_pg(url) as conn:
        rows = _rows(n)
        start = time.perf_counter()
        for _ in range(0, n, WORKFLOWS):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(INSERT.replace("?", "%s"), [next(rows) for _ in range(WORKFLOWS)])
        return n / (time.perf_counter() - start)


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine

    from stores.schema import metadata

    engine = create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()


# -- driver --------------------------------------------------------------------

def median_rate(runs: int, fresh: Callable[[], str], measure: Callable[[str], float]) -> float:
    return statistics.median(measure(fresh()) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events of the batch workload")
    parser.add_argument("--single-events", type=int, default=2_000, help="events of the one-per-transaction workload")
    parser.add_argument("--runs", type=int, default=5, help="runs per case; the median is reported")
    parser.add_argument("--postgres", default=os.environ.get("AION_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $AION_TEST_POSTGRES_URL)")
    parser.add_argument("--only", choices=("single", "batch"), help="run one workload only")
    args = parser.parse_args()
    workloads = [w for w in ("single", "batch") if args.only in (None, w)]
    sizes = {"single": args.single_events, "batch": args.events}
    store_fn = {"single": store_single, "batch": store_batch}
    raw_sqlite_fn = {"single": raw_sqlite_single, "batch": raw_sqlite_batch}
    raw_pg_fn = {"single": raw_pg_single, "batch": raw_pg_batch}
    results: list[tuple[str, str, float, float]] = []

    with tempfile.TemporaryDirectory(prefix="aion-bench-") as tmp:
        counter = iter(range(10**9))

        def fresh_file() -> str:
            return os.path.join(tmp, f"run{next(counter)}.db")

        for work in workloads:
            n = sizes[work]
            for durability in ("process", "fsync"):
                raw = median_rate(args.runs, fresh_file, lambda p: raw_sqlite_fn[work](p, durability, n))
                store = median_rate(args.runs, fresh_file,
                                    lambda p: store_fn[work](f"sqlite:///{p}", durability, n))
                results.append((work, f"raw sqlite3 ({durability})", raw, 1.0))
                results.append((work, f"SqlStore sqlite ({durability})", store, store / raw))
                print(f"  {work:6} sqlite {durability:7}: store {store:9,.0f}/s  raw {raw:9,.0f}/s", file=sys.stderr)
            if args.postgres:
                def fresh_pg() -> str:
                    _reset_pg(args.postgres)
                    return args.postgres

                raw = median_rate(args.runs, fresh_pg, lambda u: raw_pg_fn[work](u, n))
                store = median_rate(args.runs, fresh_pg, lambda u: store_fn[work](u, "process", n))
                results.append((work, "raw psycopg (PostgreSQL)", raw, 1.0))
                results.append((work, "SqlStore PostgreSQL", store, store / raw))
        if args.postgres:
            _reset_pg(args.postgres)
        else:
            print("note: PostgreSQL skipped (pass --postgres URL or set AION_TEST_POSTGRES_URL)")

    _print_table(results, args)


def _print_table(results: list[tuple[str, str, float, float]], args: argparse.Namespace) -> None:
    title = (f"events/s, median of {args.runs} runs; single = 1 event/transaction ({args.single_events:,}), "
             f"batch = 100 appends x 1 event/transaction ({args.events:,})")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text is enough
        print(title)
        for case, backend, rate, ratio in results:
            print(f"{case:8} {backend:32} {rate:12,.0f} {ratio:8.0%}")
        return
    table = Table(title=title)
    for name in ("case", "backend", "events/s (median)", "ratio to raw"):
        table.add_column(name, justify="right" if name != "backend" and name != "case" else "left")
    for case, backend, rate, ratio in results:
        table.add_row(case, backend, f"{rate:,.0f}", f"{ratio:.0%}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
