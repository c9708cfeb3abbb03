"""Engine throughput: hello workflows per second and overhead per sequential step.

Two workloads per runtime, each run on a fresh SQLite file (durability
"process" = WAL + synchronous=NORMAL) unless `--store` names one:

- hello (a): N workflows of one activity each. `--clients` threads each
  start their share with `engine.start` (which returns once WorkflowStarted
  is committed), meet at a barrier, then wait for their share's results
  with `handle.result()`. workflows/s = N / (first start .. last result).
  The start phase alone is reported as starts/s.
- steps (b): one workflow of S sequential trivial activities, and one of 1
  activity, timed start-to-result `--reps` times each (interleaved, one at
  a time on an otherwise idle engine). overhead per step =
  (median T(S) - median T(1)) / (S - 1). T(1) is the end-to-end latency of a
  one-activity workflow.

Every figure is the median over `--runs` runs, with min and max.

`--profile` adds, after the table, a counted pass of each workload (Thespian
sends by type, actors created, driver batches, store calls with batch sizes
and time, CPU per thread) and a cProfile pass of the engine thread (where
every actor runs) with a breakdown per workflow / per step.

    python benchmarks/throughput.py --runs 5 [--workflows 1000] [--steps 10] [--clients 1 8] [--profile]
"""

from __future__ import annotations

import argparse
import collections
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
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aion_actors as aion  # noqa: E402
from _table import print_table  # noqa: E402
from aion_actors import activity, workflow  # noqa: E402
from aion_actors.config import RUNTIMES  # noqa: E402
from stores.url import open_store  # noqa: E402


# -- the workloads' definitions ------------------------------------------------

@activity.defn
def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
async def hello(name: str) -> str:
    return await workflow.execute_activity(greet, name, start_to_close_timeout=10)


@activity.defn
def noop(i: int) -> int:
    return i


@workflow.defn
async def chain(n: int) -> int:
    total = 0
    for i in range(n):
        total += await workflow.execute_activity(noop, i, start_to_close_timeout=10)
    return total


WORKFLOWS = [hello, chain]
ACTIVITIES = [greet, noop]


# -- counting (profile pass only) ------------------------------------------------

class CountingStore:
    """Counts an EventStore's calls (appends, batch sizes, reads) and the time spent in each.

    The engine only accepts a real `EventStore`, so the store's public methods are
    wrapped on the instance itself (`install`) instead of behind a proxy.
    """

    METHODS = ("append_batch", "read_history", "read_history_from", "get_summary", "list_active",
               "all_timers", "timers_of", "query")

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.seconds: collections.Counter = collections.Counter()
        self.batch_sizes: list[int] = []
        self.events_appended = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()
        self.batch_sizes.clear()
        self.events_appended = 0

    def install(self, store: Any) -> Any:
        for name in self.METHODS:
            if hasattr(store, name):
                setattr(store, name, self._wrap(name, getattr(store, name)))
        return store

    def _wrap(self, name: str, attr: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t
                with self._lock:
                    self.calls[name] += 1
                    self.seconds[name] += dt
                    if name == "append_batch":
                        self.batch_sizes.append(len(args[0]))
                        self.events_appended += sum(len(a.events) for a in args[0])
        return wrapped


class MessageCounter:
    """Counts every Thespian send of the simple base (actor sends and driver tells) by message type."""

    def __init__(self) -> None:
        self.by_type: collections.Counter = collections.Counter()
        self.created: collections.Counter = collections.Counter()
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        from thespian.system import simpleSystemBase as ssb

        base = ssb.ActorSystemBase
        counter = self

        orig_send, orig_tell, orig_new = base.actor_send, base.tell, base.newActor

        def actor_send(self, fromActor, toActor, msg):
            counter.by_type[type(msg).__name__] += 1
            return orig_send(self, fromActor, toActor, msg)

        def tell(self, anActor, msg):
            counter.by_type["(driver tell) " + type(msg).__name__] += 1
            return orig_tell(self, anActor, msg)

        def new_actor(self, parentAddr, actorClass, *args, **kwargs):
            counter.created[getattr(actorClass, "__name__", str(actorClass))] += 1
            return orig_new(self, parentAddr, actorClass, *args, **kwargs)

        for name, orig, repl in (("actor_send", orig_send, actor_send), ("tell", orig_tell, tell),
                                 ("newActor", orig_new, new_actor)):
            self._saved.append((base, name, orig))
            setattr(base, name, repl)

    def uninstall(self) -> None:
        for cls, name, orig in self._saved:
            setattr(cls, name, orig)
        self._saved.clear()

    def reset(self) -> None:
        self.by_type.clear()
        self.created.clear()


class DriverCounter:
    """Counts the driver loop's wake-ups and the size of the batches it hands the engine actor."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self._saved = None

    def install(self) -> None:
        from aion_actors.runtime import messages

        orig_init = messages.Batch.__init__
        counter = self

        def init(self, items):
            counter.batches.append(len(items))
            orig_init(self, items)

        self._saved = (messages.Batch, orig_init)
        messages.Batch.__init__ = init

    def uninstall(self) -> None:
        if self._saved:
            self._saved[0].__init__ = self._saved[1]
            self._saved = None

    def reset(self) -> None:
        self.batches.clear()


# -- the measurements -------------------------------------------------------------

def _open_engine(store_url: str, runtime: str, wrap: Callable[[Any], Any] | None = None) -> aion.Engine:
    store: Any = store_url
    if wrap is not None:
        store = wrap(open_store(store_url, durability="process"))
    engine = aion.Engine(store=store, workflows=WORKFLOWS, activities=ACTIVITIES, runtime=runtime,
                         durability="process")
    return engine.open()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) so far of each live Python thread, grouped by name (Linux /proc)."""
    out: collections.Counter = collections.Counter()
    for t in threading.enumerate():
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        group = t.name.split("_")[0].rstrip("-0123456789") if t.name.startswith("aion-activity") else \
            t.name.rstrip("-0123456789")
        out[group] += (int(fields[11]) + int(fields[12])) / _TICK
    return out


def run_hello(engine: aion.Engine, n: int, clients: int) -> dict[str, float]:
    """Start n hello workflows from `clients` threads, then wait for all; return timings."""
    shares = [list(range(i, n, clients)) for i in range(clients)]
    ready = threading.Barrier(clients + 1)
    started = threading.Barrier(clients)
    t_started = [0.0] * clients
    t_done = [0.0] * clients
    client_cpu = [0.0] * clients
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            ready.wait()
            handles = [(i, engine.start(hello, f"w{i}")) for i in shares[k]]
            t_started[k] = time.perf_counter()
            started.wait()
            for i, handle in handles:
                result = handle.result(timeout=300)
                if result != f"Hello, w{i}!":
                    raise AssertionError(f"workflow {i}: unexpected result {result!r}")
            t_done[k] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            started.abort()
        finally:
            client_cpu[k] = time.thread_time()

    threads = [threading.Thread(target=client, args=(k,), name=f"bench-client-{k}") for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    cpu_by_thread = thread_cpu()
    for t in threads:
        t.join()
    cpu = time.process_time() - c0
    if errors:
        raise errors[0]
    start_phase = max(t_started) - t0
    total = max(t_done) - t0
    after = thread_cpu()
    per_thread = {name: (after[name] - cpu_by_thread.get(name, 0.0)) / n * 1e3 for name in after}
    per_thread["bench-client (all)"] = sum(client_cpu) / n * 1e3
    per_thread.pop("bench-client", None)
    return {"wf_per_s": n / total, "starts_per_s": n / start_phase, "total_s": total,
            "cpu_ms_per_wf": cpu / n * 1e3, "cpu_ms_per_wf_by_thread": per_thread}


def _timed(engine: aion.Engine, steps: int) -> float:
    t = time.perf_counter()
    result = engine.start(chain, steps).result(timeout=120)
    elapsed = time.perf_counter() - t
    if result != steps * (steps - 1) // 2:
        raise AssertionError(f"chain({steps}) returned {result!r}")
    return elapsed


def run_steps(engine: aion.Engine, steps: int, reps: int) -> dict[str, float]:
    """Time chain(steps) and chain(1) alternately; return ms per step and the latencies."""
    _timed(engine, 1)  # warm-up
    many, one, cpu_many, cpu_one = [], [], [], []
    for _ in range(reps):
        c = time.process_time()
        many.append(_timed(engine, steps))
        cpu_many.append(time.process_time() - c)
        c = time.process_time()
        one.append(_timed(engine, 1))
        cpu_one.append(time.process_time() - c)
    t_many, t_one = statistics.median(many), statistics.median(one)
    return {"ms_per_step": (t_many - t_one) / (steps - 1) * 1e3, "latency_1_ms": t_one * 1e3,
            "latency_s_ms": t_many * 1e3,
            "cpu_ms_per_step": (statistics.median(cpu_many) - statistics.median(cpu_one)) / (steps - 1) * 1e3}


def _store_url(arg: str | None, tmp: str, tag: str) -> str:
    if arg:
        return arg
    return f"sqlite:///{os.path.join(tmp, tag + '.db')}"


# -- the table --------------------------------------------------------------------



# -- profiling ----------------------------------------------------------------------

def profile_pass(args: argparse.Namespace, runtime: str, tmp: str) -> None:
    msgs, driver = MessageCounter(), DriverCounter()
    msgs.install()
    driver.install()
    try:
        for case in ("hello", "steps"):
            store = CountingStore()
            engine = _open_engine(_store_url(None, tmp, f"profile-{case}"), runtime, store.install)
            try:
                if case == "steps":
                    _timed(engine, 1)
                store.reset(), msgs.reset(), driver.reset()
                t = time.perf_counter()
                cpu_line = ""
                if case == "hello":
                    units, unit = args.workflows, "workflow"
                    r = run_hello(engine, args.workflows, args.clients[-1])
                    cpu_line = ("-- CPU ms per workflow by thread: " +
                                ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cpu_ms_per_wf_by_thread"].items())
                                          if v > 0.005) + f"; process total {r['cpu_ms_per_wf']:.2f}")
                else:
                    reps = max(3, args.reps)
                    units, unit = reps * args.steps, "step"
                    for _ in range(reps):
                        _timed(engine, args.steps)
                wall = time.perf_counter() - t
            finally:
                engine.close()
            title = (f"{case}: {args.workflows} hello workflows, {args.clients[-1]} client threads"
                     if case == "hello" else f"{case}: {max(3, args.reps)} x chain({args.steps})")
            print(f"\n=== counted pass [{runtime}] {title}; wall {wall:.2f}s (counters on, no profiler)")
            if cpu_line:
                print(cpu_line)
            print(f"-- Thespian sends per {unit} ({units} {unit}s):")
            for name, count in msgs.by_type.most_common():
                print(f"   {name:34s} {count:8d}  {count / units:6.2f}/{unit}")
            total_msgs = sum(msgs.by_type.values())
            print(f"   {'TOTAL':34s} {total_msgs:8d}  {total_msgs / units:6.2f}/{unit}")
            print(f"-- actors created per {unit}: " + ", ".join(f"{k} {v / units:.2f}" for k, v in msgs.created.items()))
            b = driver.batches
            if b:
                print(f"-- driver batches: {len(b)} ({len(b) / units:.2f}/{unit}), items/batch median "
                      f"{statistics.median(b):.0f} mean {statistics.mean(b):.1f} max {max(b)}")
            sizes = store.batch_sizes
            if sizes:
                print(f"-- store.append_batch: {len(sizes)} calls ({len(sizes) / units:.2f}/{unit}), appends/batch "
                      f"median {statistics.median(sizes):.0f} mean {statistics.mean(sizes):.1f} max {max(sizes)}; "
                      f"{store.events_appended / units:.2f} events/{unit}; "
                      f"{store.seconds['append_batch'] / len(sizes) * 1e6:.0f} us/call wall, "
                      f"{store.seconds['append_batch'] / units * 1e6:.0f} us/{unit}")
            for name, count in store.calls.most_common():
                if name != "append_batch":
                    print(f"-- store.{name}{' (calls read_history_from)' if name == 'read_history' else ''}: {count} calls ({count / units:.2f}/{unit}), "
                          f"{store.seconds[name] / count * 1e6:.0f} us/call, "
                          f"{store.seconds[name] / units * 1e6:.0f} us/{unit}")
    finally:
        msgs.uninstall()
        driver.uninstall()


def profile_engine_thread(args: argparse.Namespace, runtime: str, tmp: str) -> None:
    """cProfile the driver thread (where all actors run) for both workloads."""
    from aion_actors.runtime import driver as driver_mod

    for case in ("hello", "steps"):
        holder: dict[str, cProfile.Profile] = {}
        orig = driver_mod.Driver._serve

        def serve(self, system):
            profile = holder["p"] = cProfile.Profile()
            profile.enable()
            try:
                return orig(self, system)
            finally:
                profile.disable()

        driver_mod.Driver._serve = serve
        try:
            engine = _open_engine(_store_url(None, tmp, f"prof-engine-{case}"), runtime)
            try:
                if case == "hello":
                    units, unit = args.workflows, "workflow"
                    t = time.perf_counter()
                    run_hello(engine, args.workflows, args.clients[-1])
                else:
                    reps = max(3, args.reps)
                    units, unit = reps * args.steps, "step"
                    t = time.perf_counter()
                    for _ in range(reps):
                        _timed(engine, args.steps)
                wall = time.perf_counter() - t
            finally:
                engine.close()
        finally:
            driver_mod.Driver._serve = orig
        profile = holder["p"]
        stats = pstats.Stats(profile)
        total = stats.total_tt
        print_breakdown(stats, units, unit, f"engine thread, {case}")
        print(f"\n=== engine-thread cProfile [{runtime}] {case}: wall {wall:.2f}s, engine thread CPU in "
              f"profiled code {total:.2f}s ({total / units * 1e6:.0f} us/{unit}, includes idle waits)")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.profile_top)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile_top)
        print(out.getvalue())


# Where the engine thread's time goes: cumulative time of a few entry points (they nest
# as noted; the Thespian line is dispatch overhead alone: sends and deliveries minus the
# actors' own receiveMessage time).
_BREAKDOWN = (
    ("idle: waiting on the driver inbox", "~", "<method 'get' of '_queue.SimpleQueue' objects>"),
    ("store.append_batch (SQL + commit)", "stores/sql.py", "append_batch"),
    ("store.get_summary (EngineActor residency check)", "stores/sql.py", "get_summary"),
    ("store.read_history_from", "stores/sql.py", "read_history_from"),
    ("Thespian createActor (Recorder/WorkflowActor/ActivityActor)", "simpleSystemBase.py", "newActor"),
    ("WorkflowActor.receiveMessage (incl. createActor, instance)", "workflow_actor.py", "receiveMessage"),
    ("  WorkflowInstance.apply/start (workflow code, asyncio loop)", "instance.py", "apply"),
    ("  WorkflowInstance.start", "instance.py", "start"),
    ("Recorder.receiveMessage (envelope, to_stored, createActor)", "recorder.py", "receiveMessage"),
    ("  ev.to_stored (event encoding)", "aion_actors/events.py", "to_stored"),
    ("EngineActor.receiveMessage (incl. get_summary, createActor)", "engine_actor.py", "receiveMessage"),
    ("ActivityActor.receiveMessage (incl. runner.submit)", "activity_actor.py", "receiveMessage"),
    ("  ActivityRunner.submit (thread-pool handoff)", "runtime/activities.py", "submit"),
)


def print_breakdown(stats: pstats.Stats, units: int, unit: str, title: str) -> None:
    table = stats.stats  # (file, line, func) -> (cc, nc, tt, ct, callers)

    def cum(path: str, func: str) -> tuple[float, int]:
        t = n = 0
        for (f, _, name), (_, nc, _, ct, _) in table.items():
            if name == func and path in f:
                t += ct
                n += nc
        return t, n

    wall = stats.total_tt
    print(f"-- breakdown of the {title} under cProfile ({wall:.2f}s profiled; cProfile inflates Python-heavy "
          f"parts ~1.5-2x):")
    print(f"   {'':64s} {'calls/' + unit:>12s} {'us/call':>8s} {'us/' + unit:>10s} {'share':>6s}")
    for label, path, func in _BREAKDOWN:
        t, n = cum(path, func)
        if n:
            print(f"   {label:64s} {n / units:12.2f} {t / n * 1e6:8.0f} {t / units * 1e6:10.0f} {t / wall:6.1%}")
    send_t, n_send = cum("simpleSystemBase.py", "_runSingleSend")
    recv_t = 0.0
    for (f, _, name), (_, nc, tt, ct, _) in table.items():
        if name == "receiveMessage" and "aion_actors/runtime" in f:
            recv_t += ct
    disp_t, n_disp = cum("simpleSystemBase.py", "actor_send")
    print(f"   {'Thespian dispatch overhead (deliveries minus receiveMessage)':64s} {n_send / units:12.2f} "
          f"{(send_t - recv_t) / max(n_send, 1) * 1e6:8.0f} {(send_t - recv_t) / units * 1e6:10.0f} "
          f"{(send_t - recv_t) / wall:6.1%}")


# -- main --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median, min, max)")
    parser.add_argument("--workflows", type=int, default=1000, help="hello workflows per run (a)")
    parser.add_argument("--steps", type=int, default=10, help="sequential activities in the long workflow (b)")
    parser.add_argument("--reps", type=int, default=5, help="timings of chain(S) and chain(1) per run (b)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8],
                        help="client threads starting and awaiting the hello workflows; one row each")
    parser.add_argument("--store", default=None,
                        help="store URL (default: a fresh temporary SQLite file per run, durability 'process')")
    parser.add_argument("--runtime", nargs="+", default=["inprocess"],
                        help=f"runtimes to measure (available: {', '.join(RUNTIMES)})")
    parser.add_argument("--profile", action="store_true", help="add a counted + cProfiled pass of each workload")
    parser.add_argument("--profile-top", type=int, default=25, help="rows of each cProfile listing")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2")
    for runtime in args.runtime:
        if runtime not in RUNTIMES:
            parser.error(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; N={args.workflows} S={args.steps} "
          f"runs={args.runs} reps={args.reps} clients={args.clients} store={args.store or 'temp SQLite file per run'}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="aion-bench-") as tmp:
        for runtime in args.runtime:
            hello_res: dict[int, list[dict[str, float]]] = {c: [] for c in args.clients}
            steps_res: list[dict[str, float]] = []
            for run in range(args.runs):
                for clients in args.clients:
                    engine = _open_engine(_store_url(args.store, tmp, f"{runtime}-hello-{clients}-{run}"), runtime)
                    try:
                        r = run_hello(engine, args.workflows, clients)
                    finally:
                        engine.close()
                    hello_res[clients].append(r)
                    print(f"  run {run + 1} [{runtime}] hello x{args.workflows}, {clients} client(s): "
                          f"{r['wf_per_s']:,.0f} wf/s (starts {r['starts_per_s']:,.0f}/s, "
                          f"CPU {r['cpu_ms_per_wf']:.2f} ms/wf)", flush=True)
                engine = _open_engine(_store_url(args.store, tmp, f"{runtime}-steps-{run}"), runtime)
                try:
                    r = run_steps(engine, args.steps, args.reps)
                finally:
                    engine.close()
                steps_res.append(r)
                print(f"  run {run + 1} [{runtime}] steps: {r['ms_per_step']:.3f} ms/step, "
                      f"CPU {r['cpu_ms_per_step']:.3f} ms/step, T(1) {r['latency_1_ms']:.2f} ms, T({args.steps}) {r['latency_s_ms']:.2f} ms", flush=True)
            for clients in args.clients:
                rs = hello_res[clients]
                rows.append((runtime, f"(a) hello workflows/s, {clients} client thread(s)",
                             [r["wf_per_s"] for r in rs], 0))
                rows.append((runtime, f"(a) starts/s (start phase), {clients} client thread(s)",
                             [r["starts_per_s"] for r in rs], 0))
                rows.append((runtime, f"(a) process CPU ms per workflow, {clients} client thread(s)",
                             [r["cpu_ms_per_wf"] for r in rs], 2))
            rows.append((runtime, f"(b) overhead ms/step (S={args.steps})", [r["ms_per_step"] for r in steps_res], 3))
            rows.append((runtime, "(b) process CPU ms per step", [r["cpu_ms_per_step"] for r in steps_res], 3))
            rows.append((runtime, "(b) latency of a 1-activity workflow, ms", [r["latency_1_ms"] for r in steps_res], 2))
            rows.append((runtime, f"(b) latency of a {args.steps}-activity workflow, ms",
                         [r["latency_s_ms"] for r in steps_res], 2))
        print()
        print_table(rows, first="runtime")
        if args.profile:
            for runtime in args.runtime:
                profile_pass(args, runtime, tmp)
                profile_engine_thread(args, runtime, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
