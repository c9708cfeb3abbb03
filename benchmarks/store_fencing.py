"""What fencing costs an append: `append_batch` with and without `Append.fence`, in one sitting.

A fenced append is checked against its shard's token in the same transaction
(one extra `SELECT ... WHERE shard IN (...)` per batch, `FOR SHARE` on
PostgreSQL). Two workloads over 100 workflows on a store of 64 shards, every
shard of theirs leased by one node first:

- single: one append of one event per transaction (the engine's usual group commit
  when one workflow is busy), `--single-events` of them;
- batch: 100 appends x 1 event per transaction, `--events` events.

Fenced and unfenced runs alternate (A B A B ...) so drift of a shared host
hits both; the median of `--runs` is reported. Every run starts from an empty
database (SQLite: a fresh file, durability "process"; PostgreSQL: a fresh
throwaway database on the server of `--postgres`, dropped afterwards).

    python benchmarks/store_fencing.py --runs 5 [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stores import shard_of  # noqa: E402
from stores.base import Append  # noqa: E402
from stores.sql import SqlStore  # noqa: E402
# The same workload as store_append.py's: 100 workflows, 256-byte events.
from store_append import STATE, WORKFLOWS, _event, _wf  # noqa: E402


def _fences(store: SqlStore, ids: list[str], fenced: bool) -> dict[str, tuple[int, int] | None]:
    if not fenced:
        return {wf: None for wf in ids}
    count = store.shard_count()
    tokens = {s: store.acquire(s, "bench-node", 3600.0) for s in {shard_of(wf, count) for wf in ids}}
    return {wf: (shard_of(wf, count), tokens[shard_of(wf, count)]) for wf in ids}


def run_single(url: str, n: int, fenced: bool) -> float:
    with SqlStore(url) as store:
        ids = [_wf(i) for i in range(WORKFLOWS)]
        fence, seqs = _fences(store, ids, fenced), [0] * WORKFLOWS
        start = time.perf_counter()
        for k in range(n):
            i = k % WORKFLOWS
            wf = ids[i]
            (outcome,) = store.append_batch([Append(wf, seqs[i], (_event(wf, seqs[i] + 1, k),),
                                                    STATE if seqs[i] == 0 else None, fence=fence[wf])])
            assert outcome is None
            seqs[i] += 1
        return n / (time.perf_counter() - start)


def run_batch(url: str, n: int, fenced: bool) -> float:
    with SqlStore(url) as store:
        ids = [_wf(i) for i in range(WORKFLOWS)]
        fence, seq, k = _fences(store, ids, fenced), 0, 0
        start = time.perf_counter()
        while k < n:
            batch = []
            for wf in ids:
                batch.append(Append(wf, seq, (_event(wf, seq + 1, k),), STATE if seq == 0 else None,
                                    fence=fence[wf]))
                k += 1
            assert not any(store.append_batch(batch))
            seq += 1
        return k / (time.perf_counter() - start)


@contextmanager
def fresh_postgres(server: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"aion_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events of the batch workload")
    parser.add_argument("--single-events", type=int, default=2_000, help="events of the one-append workload")
    parser.add_argument("--runs", type=int, default=5, help="runs per case; the median is reported")
    parser.add_argument("--postgres", default=os.environ.get("AION_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $AION_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    work = {"single": (run_single, args.single_events), "batch": (run_batch, args.events)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="aion-fence-") as tmp:
        files = iter(range(10**9))
        backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
        for backend, server in backends:
            for name, (fn, n) in work.items():
                rates: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(args.runs):
                    for fenced in (False, True):
                        if server is None:
                            rates[fenced].append(fn(f"sqlite:///{tmp}/run{next(files)}.db", n, fenced))
                        else:
                            with fresh_postgres(server) as url:
                                rates[fenced].append(fn(url, n, fenced))
                plain, fenced_rate = statistics.median(rates[False]), statistics.median(rates[True])
                rows.append((backend, name, plain, fenced_rate))
                print(f"  {backend:10} {name:6}: unfenced {plain:9,.0f}/s  fenced {fenced_rate:9,.0f}/s",
                      file=sys.stderr)
    if not args.postgres:
        print("note: PostgreSQL skipped (pass --postgres URL or set AION_TEST_POSTGRES_URL)")
    print(f"events/s, median of {args.runs} alternating runs; single = 1 append/transaction "
          f"({args.single_events:,}), batch = 100 appends/transaction ({args.events:,})")
    print(f"{'backend':11} {'case':7} {'unfenced':>10} {'fenced':>10} {'fenced/unfenced':>16}")
    for backend, name, plain, fenced_rate in rows:
        print(f"{backend:11} {name:7} {plain:10,.0f} {fenced_rate:10,.0f} {fenced_rate / plain:16.1%}")


if __name__ == "__main__":
    main()
