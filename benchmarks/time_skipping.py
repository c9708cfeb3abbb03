"""Time skipping: wall time of workflows that wait for days on the test kit's virtual clock.

Three workflows on `aion_actors.testing.WorkflowEnvironment` (in-memory
store, in-process runtime, time skipping on): one 30-day `workflow.sleep`;
a `receive("go", timeout=7 days)` that times out; an activity retried five
times with a 1-hour backoff doubling each time (31 hours of backoff). Each
is run `--reps` times per run; the table gives the median wall time per
execution, median/min/max over `--runs` runs.

    python benchmarks/time_skipping.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import activity, workflow  # noqa: E402
from aion_actors.testing import WorkflowEnvironment  # noqa: E402

DAY = 86_400


@workflow.defn
async def month_long_sleep() -> str:
    await workflow.sleep(30 * DAY)
    return "slept"


@workflow.defn
async def week_long_wait() -> str:
    try:
        return await workflow.receive("go", timeout=7 * DAY)
    except TimeoutError:
        return "timed out"


@activity.defn
def flaky() -> int:
    if activity.info().attempt < 6:
        raise ConnectionError("not yet")
    return activity.info().attempt


@workflow.defn
async def day_long_retries() -> int:
    return await workflow.execute_activity(flaky, retry=aion.RetryPolicy(initial_interval=3600, backoff=2.0))


CASES = (("30-day sleep", month_long_sleep, "slept"), ("7-day receive timeout", week_long_wait, "timed out"),
         ("5 retries, 31 h of backoff", day_long_retries, 6))


def run_once(reps: int) -> dict[str, float]:
    out = {}
    with WorkflowEnvironment(workflows=[c[1] for c in CASES], activities=[flaky]) as env:
        for label, wf, expected in CASES:
            walls = []
            for _ in range(reps):
                t = time.perf_counter()
                assert env.execute(wf) == expected
                walls.append((time.perf_counter() - t) * 1e3)
            out[label] = statistics.median(walls)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs (median, min, max)")
    parser.add_argument("--reps", type=int, default=10, help="executions of each workflow per run")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}; runs={args.runs} reps={args.reps}; in-memory store, time skipping")
    results = [run_once(args.reps) for _ in range(args.runs)]
    print_table([("inprocess", f"{label}: wall ms per execution", [r[label] for r in results], 1)
                 for label, _, _ in CASES])
    return 0


if __name__ == "__main__":
    sys.exit(main())
