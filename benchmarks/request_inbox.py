"""Round trip of a command through the store's request inbox, as `aion signal/query` make it.

An engine serves requests (`Engine(serve_requests=True)`, polling every
50 ms); the client is `aion_actors.inbox.call` on a second store object
over the same SQLite file, as the CLI does in its own process (process
start-up, ≈1 s of imports, is not included). For each of `--samples`
requests: put, wait for the answer, time it. `query` asks a live run's
handler; `signal` records a SignalReceived first.

    python benchmarks/request_inbox.py [--samples 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from aion_actors import inbox, workflow  # noqa: E402
from benchmarks._table import print_table  # noqa: E402
from stores import shard_of  # noqa: E402
from stores.url import open_store  # noqa: E402


@workflow.defn
async def listener() -> None:
    seen = {"n": 0}
    workflow.set_query_handler("seen", lambda: seen["n"])
    while True:
        seen["n"] = await workflow.receive("ping")


def one_run(samples: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/aion.db"
        timings: dict[str, list[float]] = {"query (ms)": [], "signal (ms)": []}
        with aion.Engine(store=url, workflows=[listener], serve_requests=True) as engine:
            engine.start(listener, id="l-1")
            with open_store(url) as client:
                for k in range(samples):
                    for kind, body in (("query", {"name": "seen", "args": []}), ("signal", {"name": "ping",
                                                                                          "payload": k})):
                        began = time.perf_counter()
                        inbox.call(client, kind, "l-1", body, timeout=10)
                        timings[f"{kind} (ms)"].append((time.perf_counter() - began) * 1000)
    return timings


def store_steps(url: str, samples: int) -> dict[str, list[float]]:
    """Milliseconds per inbox step, over `samples` requests to one workflow, owner claiming half the shards."""
    steps = ("put", "get (waiting)", "claim", "answer", "get (answer)", "round trip", "idle poll")
    timings: dict[str, list[float]] = {step: [] for step in steps}
    with open_store(url) as store:
        count = store.shard_count()
        owned = [shard for shard in range(count) if shard % 2 == shard_of("wf", count) % 2]
        clock = time.perf_counter
        for _ in range(samples):
            t0 = clock()
            request_id = store.put_request("signal", "wf", b"x" * 200)
            t1 = clock()
            store.get_request(request_id)
            t2 = clock()
            assert [r.id for r in store.claim_requests("node", 10, owned)] == [request_id]
            t3 = clock()
            store.answer_request(request_id, reply=b"ok")
            t4 = clock()
            assert store.get_request(request_id).answered
            t5 = clock()
            store.claim_requests("node", 10, owned)
            t6 = clock()
            for step, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0, t6 - t5)):
                timings[step].append(took * 1000)
    return timings


def store_level(samples: int, runs: int) -> None:
    backends = {"sqlite": lambda folder: f"sqlite:///{folder}/aion.db"}
    admin = None
    if os.environ.get("AION_TEST_POSTGRES_URL"):
        from sqlalchemy import create_engine, text

        admin = create_engine(os.environ["AION_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
        name = f"aion_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        backends["postgresql"] = lambda _: admin.url.set(database=name).render_as_string(hide_password=False)
    merged: dict[tuple[str, str], list[float]] = {}
    try:
        for backend, url_in in backends.items():
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as folder:
                    for step, values in store_steps(url_in(folder), samples).items():
                        merged.setdefault((backend, step), []).extend(values)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("| store | step | p50 (ms) | p99 (ms) |\n| --- | --- | ---: | ---: |")
    for (backend, step), values in merged.items():
        p99 = statistics.quantiles(values, n=100)[98]
        print(f"| {backend} | {step} | {statistics.median(values):.3f} | {p99:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store-level", action="store_true", help="time the inbox's steps alone")
    args = parser.parse_args()
    if args.store_level:
        store_level(args.samples, args.runs)
        return
    merged: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for metric, values in one_run(args.samples).items():
            merged.setdefault(metric, []).extend(values)
    print_table([("sqlite", metric, values, 1) for metric, values in merged.items()], first="store")


if __name__ == "__main__":
    main()
