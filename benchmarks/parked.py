"""Parked workflows: memory and revival of N runs waiting in `workflow.receive("go")`.

One engine (inprocess runtime, a fresh SQLite file, default idle_timeout
60 s, `--max-resident` 10,000) and N workflows that each do
`return await workflow.receive("go")` with no timeout. `--clients` threads
start them (engine.start returns once WorkflowStarted is committed).

Measured per run:

- the start phase: seconds and starts/s;
- process memory from /proc/self/status: VmRSS after engine open
  (baseline), at checkpoints during the starts, and after all are started
  and settled (housekeeping has passivated down to max_resident, then
  gc.collect()); VmHWM (peak) at the end;
- residency: the exact count of resident runs, read from the engine
  actor's `runs` table (an internal: the EngineActor instance found with
  gc), cross-checked with `engine.residency()` on a random sample; also the
  size of Thespian's actor registry (dead actors leave a `None` entry);
- revival: a random sample of `--signal` (1,000) runs is signalled "go" from
  `--clients` threads and each one's result awaited; time from the first
  signal to the last result. Non-resident ones are rebuilt by replay.

The RSS slope is split into resident and non-resident parts: resident =
(RSS at the last checkpoint with every run still resident - baseline) per
1,000; non-resident = (settled RSS - RSS at max_resident) / (N - max_resident)
per 1,000. Both are printed; extrapolations are labelled as such.

    python benchmarks/parked.py --count 100000 [--count 20000 50000] [--runs 1] [--signal 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
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
from aion_actors.runtime.engine_actor import EngineActor  # noqa: E402
from aion_actors import Residency  # noqa: E402


@workflow.defn
async def parked(tag: int) -> int:
    await workflow.receive("go")
    return tag


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mb() -> float:
    return status_kb("VmRSS") / 1024


def hwm_mb() -> float:
    return status_kb("VmHWM") / 1024


def internals() -> tuple[EngineActor, object]:
    """The engine actor and the Thespian system base of the (one) open engine (gc lookup; internals)."""
    from thespian.system.simpleSystemBase import ActorSystemBase

    actors = [o for o in gc.get_objects() if isinstance(o, EngineActor) and o.context is not None]
    systems = [o for o in gc.get_objects() if isinstance(o, ActorSystemBase)]
    return actors[-1], systems[-1]


def registry_counts(system) -> tuple[int, int]:
    reg = dict(system.actorRegistry)
    return len(reg), sum(1 for v in reg.values() if v is None)


def run_once(path: str, n: int, clients: int, max_resident: int, sample: int, checkpoint: int) -> dict:
    gc.collect()
    engine = aion.Engine(store=f"sqlite:///{path}", workflows=[parked], max_resident=max_resident).open()
    try:
        time.sleep(0.5)
        base = rss_mb()
        actor, system = internals()
        ids: list[str | None] = [None] * n
        counter = iter(range(n))
        lock = threading.Lock()
        checkpoints: list[tuple[int, float, int, float]] = []  # (started, rss, resident, seconds)
        done = [0]
        t0 = time.perf_counter()

        def work() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                ids[i] = engine.start(parked, i).workflow_id
                with lock:
                    done[0] += 1
                    if done[0] % checkpoint == 0 or done[0] == max_resident:
                        checkpoints.append((done[0], rss_mb(), len(actor.runs), time.perf_counter() - t0))

        threads = [threading.Thread(target=work) for _ in range(clients)]
        for t in threads:
            t.start()
        last = 0
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            if checkpoints and checkpoints[-1][0] != last:
                c = checkpoints[-1]
                last = c[0]
                print(f"    {c[0]:>7,} started in {c[3]:6.1f}s ({c[0] / c[3]:,.0f}/s), RSS {c[1]:,.0f} MB, "
                      f"resident {c[2]:,}", flush=True)
        for t in threads:
            t.join()
        start_s = time.perf_counter() - t0
        rss_started = rss_mb()
        # settle: housekeeping passivates the least recently used beyond max_resident once a second
        settle_deadline = time.time() + 120
        while len(actor.runs) > max_resident and time.time() < settle_deadline:
            time.sleep(0.5)
        time.sleep(2.0)
        gc.collect()
        time.sleep(0.5)
        rss_settled = rss_mb()
        resident = len(actor.runs)
        reg_len, reg_dead = registry_counts(system)
        rng = random.Random(n)
        chosen = rng.sample(range(n), min(sample, n))
        check = [engine.residency(ids[i]) for i in chosen]
        sampled_resident = sum(r is Residency.RESIDENT for r in check)
        sampled_non = sum(r is Residency.NON_RESIDENT for r in check)
        # revival: signal the sample, wait for each result
        shares = [chosen[k::clients] for k in range(clients)]
        lat: list[float] = []
        t_first = time.perf_counter()

        def revive(share: list[int]) -> None:
            for i in share:
                h = aion.WorkflowHandle(engine, ids[i])
                ts = time.perf_counter()
                h.signal("go")
                assert h.result(timeout=120) == i
                with lock:
                    lat.append(time.perf_counter() - ts)

        threads = [threading.Thread(target=revive, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        revive_s = time.perf_counter() - t_first
        rss_end = rss_mb()
        hwm = hwm_mb()
    finally:
        engine.close()
    at_cap = [c for c in checkpoints if c[0] <= max_resident and c[2] >= c[0] * 0.98]
    cap_point = max(at_cap, default=None, key=lambda c: c[0])
    out = {
        "n": n,
        "start_s": start_s,
        "starts_per_s": n / start_s,
        "rss_base_mb": base,
        "rss_started_mb": rss_started,
        "rss_settled_mb": rss_settled,
        "rss_end_mb": rss_end,
        "hwm_mb": hwm,
        "resident": resident,
        "sample_resident_pct": 100.0 * sampled_resident / len(chosen),
        "sample_non_resident_pct": 100.0 * sampled_non / len(chosen),
        "registry": reg_len,
        "registry_dead": reg_dead,
        "revive_s": revive_s,
        "revive_per_s": len(chosen) / revive_s,
        "revive_p50_ms": statistics.median(lat) * 1e3,
        "revive_p99_ms": sorted(lat)[int(0.99 * (len(lat) - 1))] * 1e3,
        "checkpoints": checkpoints,
    }
    if cap_point is not None:
        out["resident_mb_per_1k"] = (cap_point[1] - base) / cap_point[0] * 1000
        out["cap_rss_mb"] = cap_point[1]
        if n > cap_point[0]:
            out["non_resident_mb_per_1k"] = (rss_settled - cap_point[1]) / (n - cap_point[0]) * 1000
    return out




METRICS = (
    ("start phase, s", "start_s", 0),
    ("starts/s ({clients} client threads)", "starts_per_s", 0),
    ("RSS after engine open (baseline), MB", "rss_base_mb", 0),
    ("RSS when the last start returned, MB", "rss_started_mb", 0),
    ("RSS settled (all started, passivated to the cap, gc), MB", "rss_settled_mb", 0),
    ("VmHWM (peak RSS) at the end, MB", "hwm_mb", 0),
    ("resident runs after settling (EngineActor.runs)", "resident", 0),
    ("sample: % resident (engine.residency)", "sample_resident_pct", 1),
    ("Thespian actorRegistry entries", "registry", 0),
    ("  of which dead (None)", "registry_dead", 0),
    ("resident: MB per 1,000 runs (to the cap)", "resident_mb_per_1k", 1),
    ("non-resident: MB per 1,000 runs (beyond the cap)", "non_resident_mb_per_1k", 2),
    ("revive sample: first signal -> last result, s", "revive_s", 2),
    ("revive sample: runs/s", "revive_per_s", 0),
    ("revive sample: per run signal+result p50, ms", "revive_p50_ms", 1),
    ("revive sample: per run signal+result p99, ms", "revive_p99_ms", 1),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, nargs="+", default=[100_000], help="parked workflows; one row group each")
    parser.add_argument("--runs", type=int, default=1, help="runs per count (median, min, max)")
    parser.add_argument("--clients", type=int, default=8, help="client threads starting (and reviving) runs")
    parser.add_argument("--max-resident", type=int, default=10_000)
    parser.add_argument("--signal", type=int, default=1000, help="random runs signalled and awaited at the end")
    parser.add_argument("--checkpoint", type=int, default=5000, help="RSS checkpoint every this many starts")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; N={args.count} runs={args.runs} "
          f"clients={args.clients} max_resident={args.max_resident} idle_timeout=60 (default); "
          f"temp SQLite file per run", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aion-bench-parked-") as tmp:
        for n in args.count:
            results = []
            for run in range(args.runs):
                print(f"  run {run + 1}, N={n:,}:", flush=True)
                r = run_once(os.path.join(tmp, f"parked-{n}-{run}.db"), n, args.clients, args.max_resident,
                             args.signal, args.checkpoint)
                results.append(r)
                print(f"  run {run + 1}, N={n:,}: {r['starts_per_s']:,.0f} starts/s, RSS settled "
                      f"{r['rss_settled_mb']:,.0f} MB (base {r['rss_base_mb']:,.0f}, peak {r['hwm_mb']:,.0f}), "
                      f"resident {r['resident']:,}, revive {args.signal} in {r['revive_s']:.2f}s", flush=True)
                print("    " + ", ".join(f"{k}={v:,.1f}" for k, v in r.items() if k != "checkpoints"), flush=True)
                print("    checkpoints (started, RSS MB, resident, s): "
                      + ", ".join(f"({c[0]}, {c[1]:.0f}, {c[2]}, {c[3]:.0f})" for c in r["checkpoints"]), flush=True)
            for label, key, digits in METRICS:
                vals = [r[key] for r in results if key in r]
                if vals:
                    rows.append((f"{n:,}", label.format(clients=args.clients), vals, digits))
        print()
        print_table(rows, first="N")
    return 0


if __name__ == "__main__":
    sys.exit(main())
