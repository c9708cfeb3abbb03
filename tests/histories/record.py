"""Record the checked-in histories: run the examples and `workflows.py`, keep every history they wrote.

Each scenario runs on a fresh SQLite store in a temporary directory; then
every workflow in that store is written to one `.jsonl` file holding the rows
of its `events` table exactly as the store keeps them (see README.md). The
files go to a new directory named after the code version that wrote them;
an existing directory is never overwritten.

Run it from the repository root, on a committed tree (the files name the
commit that wrote them):

    PYTHONPATH=$PWD python tests/histories/record.py
    PYTHONPATH=$PWD python tests/histories/record.py --only 01_hello --only extras --out /tmp/h
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.metadata
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import aion_actors as aion
from aion_actors import converter
from aion_actors import events as ev
from aion_actors.status import project
from stores import Append, WorkflowState, open_store
from tests.histories.wire import FORMAT, HERE, ROOT, load, workflow_attribute

EXTRAS = "tests/histories/workflows.py"


# -- the scenarios ------------------------------------------------------------------


def _example(stem: str) -> tuple[str, Callable[[str], None]]:
    source = f"examples/{stem}.py"

    def run(store: str) -> None:
        load(source).main(store=store)  # the tutorial as a reader runs it; every history it leaves is kept
    return source, run


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.01)


def _extras(store: str) -> dict[str, str]:
    """Drive `workflows.py` through every event the examples do not write; the notes of synthetic events."""
    w = load(EXTRAS)
    with aion.Engine(store=store, workflows=w.WORKFLOWS, activities=w.ACTIVITIES) as engine:
        with contextlib.suppress(aion.WorkflowFailed):
            engine.start(w.rejects, {"id": "R-1"}, id="rejects").result(timeout=30)

        cancelled = engine.start(w.cleans_up, "job-1", id="cleans-up")
        cancelled.cancel("no longer needed")
        with contextlib.suppress(aion.WorkflowCancelled):
            cancelled.result(timeout=30)

        terminated = engine.start(w.waits_for_go, "job-2", id="terminated")
        terminated.terminate("stuck")
        with contextlib.suppress(aion.WorkflowCancelled):
            terminated.result(timeout=30)

        paused = engine.start(w.waits_for_go, "job-3", id="paused-and-resumed")
        paused.pause("maintenance window")
        paused.signal("go", "after maintenance")
        _wait_for(lambda: "SignalReceived" in [e.type_name for e in paused.history()], "the signal")
        paused.resume()
        paused.result(timeout=30)

        engine.start(w.counts_up, 1, id="counts-up").result(timeout=30)
        engine.start(w.gives_up_on_slow_work, 30.0, id="gives-up").result(timeout=30)

        target = engine.start(w.waits_for_go, "job-4", id="signalled")
        engine.start(w.tells_another, "signalled", id="tells-another").result(timeout=30)
        target.result(timeout=30)

        parent = engine.start(w.watches_children, "job-5", id="watches-children")
        child = engine.get_handle("watches-children/cancelled")
        _wait_for(lambda: any(s.workflow_id == child.workflow_id for s in engine.list(type="cleans_up")),
                  "the second child")
        child.cancel("cancelled by its operator")
        parent.result(timeout=30)

        awaited = engine.start(w.waits_for_go, "job-7", id="signalled-and-awaited")
        engine.start(w.tells_another_and_waits, "signalled-and-awaited", id="tells-another-and-waits").result(timeout=30)
        awaited.result(timeout=30)
        engine.start(w.signals_nobody, "nobody", id="signals-nobody").result(timeout=30)
        engine.start(w.takes_a_held_id, "rejects", id="takes-a-held-id").result(timeout=30)

        engine.start(w.waits_for_go, "job-6", id="timed-out")
        # Left waiting for "go" when the engine closes; its end is appended below.

    # No code path of this version writes these two events; appended so that
    # their wire form is pinned too (the file says so in its header).
    _append(store, "timed-out", ev.WorkflowTimedOut(timeout=60.0), "timed_out", closed=True)
    _append(store, "rejects", ev.WorkflowReopened("reopened by tests/histories/record.py"), "running",
            closed=False)
    synthetic = "appended by tests/histories/record.py: no code path of this version writes {}"
    return {"timed-out": synthetic.format("WorkflowTimedOut"), "rejects": synthetic.format("WorkflowReopened")}


def _append(store: str, workflow_id: str, event: ev.Event, status: str, *, closed: bool) -> None:
    with contextlib.closing(open_store(store)) as s:
        history = [ev.from_stored(e) for e in s.read_history(workflow_id)]
        last = history[-1]
        recorded = ev.HistoryEvent(last.seq + 1, datetime.now(timezone.utc), workflow_id, last.run_id, event)
        workflow_type = history[0].event.workflow_type
        (conflict,) = s.append_batch([Append(workflow_id, last.seq, (ev.to_stored(recorded),),
                                             WorkflowState(workflow_type, status, closed))])
        if conflict is not None:
            raise SystemExit(f"could not append to {workflow_id!r}: {conflict}")


# Each runs on a store URL and returns None, or (for scenarios that choose their workflow ids) a note per
# workflow id whose history holds a synthetic event.
SCENARIOS: dict[str, tuple[str, Callable[[str], dict[str, str] | None]]] = {
    stem: _example(stem) for stem in
    ("01_hello", "02_signals_and_queries", "03_timers", "04_children_fan_out", "05_saga", "06_supervised_job",
     "07_versioning", "08_testing")
}
SCENARIOS["extras"] = (EXTRAS, _extras)


def _trips(store: str) -> None:
    """09's `trip` run by one engine: the example's cluster changes which node runs it, not its history."""
    source = "examples/09_local_cluster.py"
    example = load(source)
    with tempfile.TemporaryDirectory(prefix="aion-trips-") as tmp:
        with _environ("TRIP_STEPS_LOG", str(Path(tmp) / "steps.log")):
            with aion.Engine(store=store, workflows=[example.trip], activities=[example.travel]) as engine:
                engine.start(example.trip, 1, id="trip-1").result(timeout=60)


@contextlib.contextmanager
def _environ(name: str, value: str):
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


SCENARIOS["09_local_cluster"] = ("examples/09_local_cluster.py", _trips)


def _gpu_batch(store: str) -> None:
    """10's `render_batch` with its jobs on the "gpu" queue, served by a second engine of the same store:
    which process runs a job is not in the history, only that it ran as a task."""
    source = "examples/10_gpu_queue.py"
    example = load(source)
    with tempfile.TemporaryDirectory(prefix="aion-gpu-") as tmp:
        with _environ("GPU_JOBS_LOG", str(Path(tmp) / "jobs.log")):
            with aion.Engine(store=store, workflows=[example.render_batch]) as engine, \
                    aion.Engine(store=store, activities=[example.render], owns_shards=False,
                                task_queues=[aion.TaskQueue("gpu", concurrency=2)]):
                engine.start(example.render_batch, 3, id="batch-1").result(timeout=60)


SCENARIOS["10_gpu_queue"] = ("examples/10_gpu_queue.py", _gpu_batch)


# -- writing the files --------------------------------------------------------------


def code_version() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    # Recorded files are data; any other change means HEAD is not the code that wrote them.
    changed = [line for line in git("status", "--porcelain", "--untracked-files=all").splitlines()
               if not line.endswith(".jsonl")]
    return {"aion_actors_version": importlib.metadata.version("aion_actors"), "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(changed)}


def _value(event: ev.Event, module: ModuleType, attribute: str) -> Any:
    """The decoded result of a completed run, as JSON, to compare with what later code decodes."""
    if not isinstance(event, ev.WorkflowCompleted):
        return None
    value = converter.decode_value(event.result, converter.return_annotation(getattr(module, attribute)))
    return json.loads(json.dumps(value, default=repr))


def dump(db: Path, source: str, notes: dict[str, str] | None, out: Path, scenario: str, version: dict[str, Any]) -> list[Path]:
    module = load(source)
    connection = sqlite3.connect(db)
    try:
        ids = [row[0] for row in connection.execute("SELECT workflow_id FROM workflows ORDER BY id")]
        written, counts = [], {}
        for workflow_id in ids:
            rows = connection.execute(
                "SELECT workflow_id, seq, run_id, type, recorded_at_us, data, crc FROM events "
                "WHERE workflow_id = ? ORDER BY seq", (workflow_id,)).fetchall()
            with contextlib.closing(open_store(f"sqlite:///{db}")) as store:
                history = [ev.from_stored(event) for event in store.read_history(workflow_id)]
            workflow_type = history[0].event.workflow_type
            attribute = workflow_attribute(module, workflow_type)
            header = {"format": FORMAT, **version, "recorded_on": datetime.now(timezone.utc).isoformat(),
                      "scenario": scenario, "source": source, "workflow": attribute, "workflow_type": workflow_type,
                      "workflow_id": workflow_id, "events": len(rows),
                      "event_types": sorted({e.type_name for e in history}),
                      "status": str(project(history)), "result": _value(history[-1].event, module, attribute)}
            if notes and workflow_id in notes:
                header["synthetic"] = notes[workflow_id]
            counts[workflow_type] = counts.get(workflow_type, 0) + 1
            # Example runs have random ids; the extras choose ids that say what happened.
            name = workflow_id.replace("/", "~") if notes is not None else f"{workflow_type}.{counts[workflow_type]}"
            path = out / f"{scenario}.{name}.jsonl"
            with path.open("w") as f:
                f.write(json.dumps(header) + "\n")
                for wid, seq, run_id, type_, recorded_at_us, data, crc in rows:
                    f.write(json.dumps({"workflow_id": wid, "seq": seq, "run_id": run_id, "type": type_,
                                        "recorded_at_us": recorded_at_us,
                                        "data": base64.b64encode(data).decode(), "crc": crc}) + "\n")
            written.append(path)
        return written
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), metavar="SCENARIO",
                        help=f"record only these scenarios (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, help="where to write (default: tests/histories/<version>-<commit>/)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="record from uncommitted code (the files say so); for trying the script out")
    args = parser.parse_args(argv)
    version = code_version()
    if version["git_dirty"] and not args.allow_dirty:
        parser.error("commit the code first: the files name the commit that wrote them (or --allow-dirty)")
    out = args.out or HERE / f"{version['aion_actors_version']}-{version['git_commit'][:12]}"
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} exists: histories of a code version are never rewritten")
    out.mkdir(parents=True, exist_ok=True)
    for scenario in args.only or SCENARIOS:
        source, run = SCENARIOS[scenario]
        with tempfile.TemporaryDirectory(prefix="aion-record-") as tmp:
            db = Path(tmp) / "aion.db"
            with contextlib.redirect_stdout(io.StringIO()):
                notes = run(f"sqlite:///{db}")
            for path in dump(db, source, notes, out, scenario, version):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    sys.exit(main())
