"""Timer burst: N workflows whose durable timers all fall due at one instant T.

Each workflow gets T (a float epoch) as its input and does
`await workflow.sleep(T - workflow.now().timestamp())`, then returns. T is
chosen after a short pilot measured the start rate on a throwaway engine:
T = t0 + N / rate * 1.6 + `--margin` seconds, so every start has finished
before T (a run where the last start landed later than T - 1 s is flagged).

Per timer, lateness = recorded_at(TimerFired) - fire_at(TimerStarted),
read back from the store after the run. Note that the engine computes
fire_at as wall-clock now + delay when the code runs (instance.start_timer),
not workflow.now() + delay, so fire_at lands a little after T; the spread
of fire_at is reported. recorded_at is stamped by the Recorder when it
builds the append (before the commit), so the table also gives
WorkflowCompleted.recorded_at - T, which is after the TimerFired commit:
"burst until every run has woken and finished".

`--idle-timeout` takes several values, one row group each: 60 (the default,
every run stays resident while it sleeps) and 1 (every run is passivated
while it sleeps, so each fire reloads and replays it).

    python benchmarks/timers.py --runs 3 [--count 10000] [--idle-timeout 60 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import events as ev  # noqa: E402
from aion_actors import workflow  # noqa: E402


@workflow.defn
async def sleep_until(at: float) -> float:
    await workflow.sleep(max(0.0, at - workflow.now().timestamp()))
    return at


@workflow.defn
async def quick(x: int) -> int:
    return x


WORKFLOWS = [sleep_until, quick]


def start_all(engine: aion.Engine, wf, inputs: list, clients: int) -> list[str]:
    ids: list[str | None] = [None] * len(inputs)

    def work(k: int) -> None:
        for i in range(k, len(inputs), clients):
            ids[i] = engine.start(wf, inputs[i]).workflow_id

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids  # type: ignore[return-value]


def closed_count(path: str) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM workflows WHERE closed = 1").fetchone()[0]
    finally:
        con.close()


def fired_count(path: str) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM events WHERE type = 'TimerFired'").fetchone()[0]
    finally:
        con.close()


def pilot_rate(tmp: str, clients: int, n: int = 300) -> float:
    path = os.path.join(tmp, "pilot.db")
    with aion.Engine(store=f"sqlite:///{path}", workflows=WORKFLOWS) as engine:
        t = time.perf_counter()
        start_all(engine, quick, list(range(n)), clients)
        return n / (time.perf_counter() - t)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def run_once(path: str, n: int, idle_timeout: float, clients: int, rate: float, margin: float,
             profile: cProfile.Profile | None) -> dict[str, float]:
    engine = aion.Engine(store=f"sqlite:///{path}", workflows=WORKFLOWS, idle_timeout=idle_timeout,
                         max_resident=max(10_000, n)).open()
    try:
        t0 = time.time()
        at = t0 + n / rate * 1.6 + margin
        ts = time.perf_counter()
        ids = start_all(engine, sleep_until, [at] * n, clients)
        start_s = time.perf_counter() - ts
        starts_done = time.time()
        if profile is not None:
            # profile only the fire burst: from 0.5 s before T until every run has closed
            time.sleep(max(0.0, at - 0.5 - time.time()))
            holder["on"] = True
        time.sleep(max(0.0, at - time.time()))
        # recorded_at is stamped when the engine's pass saw the timers due; this is when
        # another process can first read every TimerFired (the commit carrying them).
        deadline = time.time() + 600
        while fired_count(path) < n:
            if time.time() > deadline:
                raise RuntimeError("timers did not all fire within 600 s")
            time.sleep(0.005)
        fires_committed_ms = (time.time() - at) * 1e3
        while closed_count(path) < n:
            if time.time() > deadline:
                raise RuntimeError("timers did not all fire within 600 s")
            time.sleep(0.25)
        holder["on"] = False
        lateness, fired_at, fire_at, completed_at = [], [], [], []
        for wid in ids:
            hist = [ev.from_stored(s) for s in engine._store.read_history(wid)]
            started = next(e for e in hist if isinstance(e.event, ev.TimerStarted))
            fired = next(e for e in hist if isinstance(e.event, ev.TimerFired))
            done = hist[-1]
            assert isinstance(done.event, ev.WorkflowCompleted), done
            f_at = started.event.fire_at.timestamp()
            fire_at.append(f_at)
            fired_at.append(fired.recorded_at.timestamp())
            lateness.append(fired.recorded_at.timestamp() - f_at)
            completed_at.append(done.recorded_at.timestamp())
    finally:
        engine.close()
    return {
        "starts_s": start_s,
        "starts_per_s": n / start_s,
        "slack_s": at - starts_done,
        "fire_at_spread_ms": (max(fire_at) - min(fire_at)) * 1e3,
        "p50_ms": pct(lateness, 0.50) * 1e3,
        "p99_ms": pct(lateness, 0.99) * 1e3,
        "max_ms": max(lateness) * 1e3,
        "min_ms": min(lateness) * 1e3,
        "burst_fired_ms": (max(fired_at) - min(fire_at)) * 1e3,
        "burst_completed_ms": (max(completed_at) - min(fire_at)) * 1e3,
        "fires_committed_ms": fires_committed_ms,
    }


holder: dict = {"on": False, "profile": None}


def install_profiler() -> None:
    """cProfile the driver thread's `tell`s (where every actor runs) while holder['on'] is set."""
    from thespian.system import simpleSystemBase as ssb

    orig_tell = ssb.ActorSystemBase.tell

    def tell(self, anActor, msg):
        profile = holder["profile"]
        if holder["on"] and profile is not None and threading.current_thread().name == "aion-engine":
            profile.enable()
            try:
                return orig_tell(self, anActor, msg)
            finally:
                profile.disable()
        return orig_tell(self, anActor, msg)

    ssb.ActorSystemBase.tell = tell




METRICS = (
    ("starts/s ({clients} client threads)", "starts_per_s", 0),
    ("slack: T - last start returned, s", "slack_s", 1),
    ("spread of recorded fire_at, ms", "fire_at_spread_ms", 1),
    ("lateness p50, ms", "p50_ms", 1),
    ("lateness p99, ms", "p99_ms", 1),
    ("lateness max, ms", "max_ms", 1),
    ("burst: first fire_at -> last TimerFired recorded_at, ms", "burst_fired_ms", 0),
    ("burst: T -> every TimerFired committed (read by another process), ms", "fires_committed_ms", 0),
    ("burst: first fire_at -> last WorkflowCompleted recorded_at, ms", "burst_completed_ms", 0),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="workflows, all due at the same instant")
    parser.add_argument("--runs", type=int, default=3, help="runs per idle_timeout (median, min, max)")
    parser.add_argument("--idle-timeout", type=float, nargs="+", default=[60.0, 1.0],
                        help="Engine(idle_timeout=...) values; one row group each")
    parser.add_argument("--clients", type=int, default=8, help="client threads calling engine.start")
    parser.add_argument("--margin", type=float, default=5.0, help="extra seconds between the estimated last start and T")
    parser.add_argument("--profile", action="store_true",
                        help="one extra run per idle_timeout with the driver thread under cProfile during the burst")
    parser.add_argument("--profile-top", type=int, default=30)
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; N={args.count} runs={args.runs} "
          f"idle_timeout={args.idle_timeout} clients={args.clients}; temp SQLite file per run", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aion-bench-timers-") as tmp:
        rate = pilot_rate(tmp, args.clients)
        print(f"  pilot: {rate:,.0f} starts/s; T = start + N/rate*1.6 + {args.margin:g} s", flush=True)
        for idle in args.idle_timeout:
            results = []
            for run in range(args.runs):
                r = run_once(os.path.join(tmp, f"timers-{idle:g}-{run}.db"), args.count, idle, args.clients, rate,
                             args.margin, None)
                results.append(r)
                flag = "" if r["slack_s"] > 1 else "  (WARNING: starts ran into T)"
                print(f"  run {run + 1} idle_timeout={idle:g}: starts {r['starts_s']:.1f}s, lateness p50 "
                      f"{r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} / max {r['max_ms']:.1f} ms, all fired "
                      f"{r['burst_fired_ms']:.0f} ms, all completed {r['burst_completed_ms']:.0f} ms{flag}",
                      flush=True)
            for label, key, digits in METRICS:
                rows.append((f"{idle:g} s", label.format(clients=args.clients), [r[key] for r in results], digits))
        print()
        print_table(rows, first="idle_timeout")
        if args.profile:
            install_profiler()
            for idle in args.idle_timeout:
                profile = holder["profile"] = cProfile.Profile()
                r = run_once(os.path.join(tmp, f"profile-{idle:g}.db"), args.count, idle, args.clients, rate,
                             args.margin, profile)
                print(f"\n=== driver-thread cProfile of the fire burst, idle_timeout={idle:g} "
                      f"(p99 {r['p99_ms']:.1f} ms, all fired {r['burst_fired_ms']:.0f} ms under the profiler)")
                for key in ("tottime", "cumulative"):
                    out = io.StringIO()
                    pstats.Stats(profile, stream=out).sort_stats(key).print_stats(args.profile_top)
                    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
