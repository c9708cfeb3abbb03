"""Signal-to-visible latency: signal k, then poll a query until the run reports k.

One workflow loops `n = await workflow.receive("ping")` and keeps n in a
query-visible state ("seen"). For each sample the client calls
`handle.signal("ping", k)` (returns once SignalReceived is committed and
acknowledged), then `handle.query("seen")` until it returns k. latency =
signal call start -> the query that returned k. `--warmup` samples (50)
are dropped, `--samples` (1,000) kept, one at a time on an otherwise idle
engine (inprocess runtime).

Also timed alone, `--samples` times each: signal() by itself, query() by
itself (no signal in between), and `engine.residency(id)` (the bare
client -> driver -> engine actor round trip that signal() and query()
both make first, in `services._Service._require_running`).

`--store` takes several URLs, one row group each (default: a fresh temporary
SQLite file, durability "process"; `memory:` separates engine cost from
store cost). `--profile` adds a cProfile of the client thread and of the
driver thread ("aion-engine") over the sample loop.

    python benchmarks/signal_latency.py --runs 3 [--samples 1000] [--store sqlite memory:] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import workflow  # noqa: E402


@workflow.defn
async def pinger() -> int:
    state = {"seen": 0}
    workflow.set_query_handler("seen", lambda: state["seen"])
    while True:
        n = await workflow.receive("ping")
        state["seen"] = n
        if n < 0:
            return n


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def run_once(store: str, samples: int, warmup: int, profiles: dict | None = None) -> dict[str, float]:
    engine = aion.Engine(store=store, workflows=[pinger]).open()
    try:
        handle = engine.start(pinger)
        k = 0
        lat, sig, polls = [], [], []

        def one() -> tuple[float, float, int]:
            nonlocal k
            k += 1
            t0 = time.perf_counter()
            handle.signal("ping", k)
            t1 = time.perf_counter()
            n = 1
            while handle.query("seen") != k:
                n += 1
            t2 = time.perf_counter()
            return t2 - t0, t1 - t0, n

        for _ in range(warmup):
            one()
        if profiles is not None:
            holder["on"] = True
            profiles["client"].enable()
        for _ in range(samples):
            a, b, n = one()
            lat.append(a)
            sig.append(b)
            polls.append(n)
        if profiles is not None:
            profiles["client"].disable()
            holder["on"] = False
        query_alone, signal_alone, resolve = [], [], []
        for _ in range(samples):
            t = time.perf_counter()
            handle.query("seen")
            query_alone.append(time.perf_counter() - t)
        for _ in range(samples):
            k += 1
            t = time.perf_counter()
            handle.signal("ping", k)
            signal_alone.append(time.perf_counter() - t)
        for _ in range(samples):
            t = time.perf_counter()
            engine.residency(handle.workflow_id)
            resolve.append(time.perf_counter() - t)
        handle.signal("ping", -1)
        assert handle.result(timeout=30) == -1
    finally:
        engine.close()
    ms = 1e3
    return {
        "lat_p50": statistics.median(lat) * ms, "lat_p99": pct(lat, 0.99) * ms, "lat_max": max(lat) * ms,
        "sig_in_loop_p50": statistics.median(sig) * ms,
        "polls_mean": statistics.mean(polls),
        "sig_p50": statistics.median(signal_alone) * ms, "sig_p99": pct(signal_alone, 0.99) * ms,
        "query_p50": statistics.median(query_alone) * ms, "query_p99": pct(query_alone, 0.99) * ms,
        "resolve_p50": statistics.median(resolve) * ms, "resolve_p99": pct(resolve, 0.99) * ms,
    }


holder: dict = {"on": False, "driver": None}


def install_driver_profiler() -> None:
    """cProfile the driver thread's `tell`s and `listen`s (where every actor runs) while holder['on']."""
    from thespian.system import simpleSystemBase as ssb

    for name in ("tell", "listen"):
        orig = getattr(ssb.ActorSystemBase, name)

        def wrapped(self, *a, __orig=orig, **kw):
            profile = holder["driver"]
            if holder["on"] and profile is not None and threading.current_thread().name == "aion-engine":
                profile.enable()
                try:
                    return __orig(self, *a, **kw)
                finally:
                    profile.disable()
            return __orig(self, *a, **kw)

        setattr(ssb.ActorSystemBase, name, wrapped)




METRICS = (
    ("signal -> query sees k, p50 ms", "lat_p50", 3),
    ("signal -> query sees k, p99 ms", "lat_p99", 3),
    ("signal -> query sees k, max ms", "lat_max", 3),
    ("  queries per sample (mean)", "polls_mean", 2),
    ("  its signal() part, p50 ms", "sig_in_loop_p50", 3),
    ("signal() alone, p50 ms", "sig_p50", 3),
    ("signal() alone, p99 ms", "sig_p99", 3),
    ("query() alone, p50 ms", "query_p50", 3),
    ("query() alone, p99 ms", "query_p99", 3),
    ("engine.residency() round trip, p50 ms", "resolve_p50", 3),
    ("engine.residency() round trip, p99 ms", "resolve_p99", 3),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per store (median, min, max)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--store", nargs="+", default=["sqlite"],
                        help="'sqlite' (a fresh temporary file per run) or store URLs such as memory:")
    parser.add_argument("--profile", action="store_true", help="a cProfiled pass per store (client + driver thread)")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; samples={args.samples} warmup={args.warmup} "
          f"runs={args.runs} stores={args.store}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aion-bench-signal-") as tmp:
        def url(store: str, tag: str) -> str:
            return f"sqlite:///{os.path.join(tmp, tag + '.db')}" if store == "sqlite" else store

        for store in args.store:
            results = []
            for run in range(args.runs):
                r = run_once(url(store, f"signal-{run}"), args.samples, args.warmup)
                results.append(r)
                print(f"  run {run + 1} [{store}]: signal->seen p50 {r['lat_p50']:.3f} / p99 {r['lat_p99']:.3f} ms; "
                      f"signal() {r['sig_p50']:.3f} ms, query() {r['query_p50']:.3f} ms, "
                      f"residency() {r['resolve_p50']:.3f} ms", flush=True)
            for label, key, digits in METRICS:
                rows.append((store, label, [r[key] for r in results], digits))
        print()
        print_table(rows, first="store")
        if args.profile:
            install_driver_profiler()
            for store in args.store:
                profiles = {"client": cProfile.Profile()}
                holder["driver"] = profiles["driver"] = cProfile.Profile()
                r = run_once(url(store, "profile"), args.samples, args.warmup, profiles)
                for who in ("client", "driver"):
                    stats = pstats.Stats(profiles[who])
                    print(f"\n=== cProfile, {who} thread, [{store}] sample loop ({args.samples} samples, p50 "
                          f"{r['lat_p50']:.3f} ms under the profiler): {stats.total_tt * 1e6 / args.samples:.0f} "
                          f"us/sample profiled")
                    for key in ("tottime", "cumulative"):
                        out = io.StringIO()
                        pstats.Stats(profiles[who], stream=out).sort_stats(key).print_stats(args.profile_top)
                        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
