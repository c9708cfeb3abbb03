"""Remote activity round trip and throughput through a task queue.

Round trip: one workflow runs one activity on the "gpu" queue, served by a
worker-only `Engine` in this process; latency = `start()` -> `result()`
returned, for `--samples` workflows one at a time (after `--warmup`),
p50 and p99; the same workflow with its activity on no queue is the
baseline. Throughput: one workflow fans out `--tasks` attempts of a no-op
activity to the queue, served by 1, 2 and 3 worker engines (threads of this
process: the GIL and the store bound it, not the network); tasks/s.

    python benchmarks/task_queue.py --runs 3 [--samples 200] [--tasks 300] [--store sqlite postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import activity, workflow  # noqa: E402


@activity.defn(task_queue="gpu")
def remote(x: int) -> int:
    return x


@activity.defn
def local(x: int) -> int:
    return x


@workflow.defn
async def one_remote(x: int) -> int:
    return await workflow.execute_activity(remote, x)


@workflow.defn
async def one_local(x: int) -> int:
    return await workflow.execute_activity(local, x)


@workflow.defn
async def fan(n: int) -> int:
    return len(await workflow.all([workflow.execute_activity(remote, i) for i in range(n)]))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def fresh(url: str) -> str:
    if url != "sqlite":
        return url  # PostgreSQL: the caller gives an empty database
    return f"sqlite:///{tempfile.mkdtemp()}/bench.db"


def round_trips(url: str, wf, samples: int, warmup: int, run: int) -> list[float]:
    with aion.Engine(url, workflows=[one_remote, one_local, fan], activities=[local]) as owner, \
            aion.Engine(url, owns_shards=False, activities=[remote], task_queues=["gpu"]):
        times = []
        for i in range(warmup + samples):
            t = time.perf_counter()
            owner.start(wf, i, id=f"{wf.__name__}-{run}-{i}").result(30)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000)
        return times


def throughput(url: str, workers: int, tasks: int, run: int) -> float:
    with contextlib.ExitStack() as stack:
        owner = stack.enter_context(aion.Engine(url, workflows=[fan]))
        for _ in range(workers):
            stack.enter_context(aion.Engine(url, owns_shards=False, activities=[remote], task_queues=[
                aion.TaskQueue("gpu", worker_concurrency=8)]))
        t = time.perf_counter()
        assert owner.start(fan, tasks, id=f"fan-{workers}-{run}").result(300) == tasks
        return tasks / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--samples", type=int, default=200, help="timed round trips per run (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed round trips first (default 20)")
    parser.add_argument("--tasks", type=int, default=300, help="attempts fanned out per throughput run (default 300)")
    parser.add_argument("--store", nargs="+", default=["sqlite"],
                        help="stores to measure: 'sqlite' (a fresh file) and/or the URL of an empty PostgreSQL database "
                             "(default: sqlite)")
    args = parser.parse_args()
    rows = []
    for store in args.store:
        label = store.split(":")[0]
        for wf, what in ((one_local, "no queue"), (one_remote, "gpu queue")):
            p50, p99 = [], []
            for run in range(args.runs):
                times = round_trips(fresh(store), wf, args.samples, args.warmup, run)
                p50.append(statistics.median(times))
                p99.append(pct(times, 0.99))
            rows += [(label, f"{what}: round trip p50 (ms)", p50, 1), (label, f"{what}: round trip p99 (ms)", p99, 1)]
        for workers in (1, 2, 3):
            rates = [throughput(fresh(store), workers, args.tasks, run) for run in range(args.runs)]
            rows.append((label, f"tasks/s, {workers} worker engine(s)", rates, 0))
    print_table(rows, first="store")


if __name__ == "__main__":
    main()
