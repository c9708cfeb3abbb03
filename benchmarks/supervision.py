"""Supervision figures: heartbeat cost per call, and how fast a killed activity process is re-run.

    python benchmarks/supervision.py --runs 5

(a) heartbeat: an activity calls `activity.heartbeat(details)` N times in a loop (throttled:
    one is recorded per second); reports µs per call, median of runs.
(b) kill -> re-run: on the local runtime an activity writes its pid and blocks; the script
    SIGKILLs that process and measures until the next attempt is recorded (ActivityStarted
    attempt 2 committed) and until it starts running, median of runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import activity, workflow  # noqa: E402

PID_FILE = "AION_BENCH_PID_FILE"


@activity.defn
def beat(n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        activity.heartbeat({"done": i, "total": n})
    return (time.perf_counter() - t) / n * 1e6


@workflow.defn
async def beating(n: int) -> float:
    return await workflow.execute_activity(beat, n)


@activity.defn
def victim() -> int:
    attempt = activity.info().attempt
    with open(os.environ[PID_FILE], "a") as f:
        f.write(f"{attempt} {os.getpid()} {time.time()}\n")
    if attempt == 1:
        time.sleep(600)
    return attempt


@workflow.defn
async def supervised() -> int:
    return await workflow.execute_activity(victim)


def heartbeat_us(tmp: str, n: int) -> float:
    with aion.Engine(store=f"sqlite:///{tmp}/hb.db", workflows=[beating], activities=[beat]) as engine:
        return engine.start(beating, n).result(timeout=120)


def kill_to_rerun_ms(tmp: str, run: int) -> tuple[float, float]:
    pid_file = Path(tmp) / f"pids-{run}.txt"
    os.environ[PID_FILE] = str(pid_file)
    with aion.Engine(store=f"sqlite:///{tmp}/kill-{run}.db", runtime="local", workflows=[supervised],
                     activities=[victim]) as engine:
        handle = engine.start(supervised)
        while not pid_file.exists() or not pid_file.read_text().strip():
            time.sleep(0.005)
        pid = int(pid_file.read_text().split()[1])
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        assert handle.result(timeout=60) == 2
        second = next(e for e in handle.history() if e.type_name == "ActivityStarted" and e.event.attempt == 2)
        started = float(pid_file.read_text().splitlines()[1].split()[2])
        return (second.recorded_at.timestamp() - killed) * 1e3, (started - killed) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--beats", type=int, default=100_000, help="heartbeat calls per run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        beats = [heartbeat_us(tmp, args.beats) for _ in range(args.runs)]
        kills = [kill_to_rerun_ms(tmp, run) for run in range(args.runs)]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, runs={args.runs}")
    print_table([
        ("inprocess", "activity.heartbeat() per call, µs (throttled)", beats, 2),
        ("local", "SIGKILL -> next attempt recorded, ms", [k[0] for k in kills], 1),
        ("local", "SIGKILL -> next attempt running, ms", [k[1] for k in kills], 1),
    ], first="runtime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
