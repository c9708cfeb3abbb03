"""Clusters of real `aion worker` processes on one store (SQLite file or PostgreSQL), loopback only.

`cluster` starts nodes as a user does (`aion worker FILE --node-id ... --lease-ttl ...`),
reads what they recorded through the store's API, and kills whatever still runs at the end.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aion_actors import events as ev
from stores.url import open_store
from tests.freezing import freeze

STEPS = str(Path(__file__).with_name("steps.py"))
REPO = str(Path(__file__).resolve().parents[2])
LEASE_TTL = 2.0


class Cluster:
    def __init__(self, store: str, tmp_path: Path) -> None:
        self.store_url = store
        self.cwd = tmp_path
        self.side_log = tmp_path / "side-effects.jsonl"
        self.side_log.touch()
        self.env = {**os.environ, "AION_STORE": store, "AION_SIDE_LOG": str(self.side_log),
                    "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
        self.nodes: dict[str, subprocess.Popen] = {}
        self.store = open_store(store)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "aion_actors.cli", *args]

    def aion(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start_node(self, node_id: str, lease_ttl: float = LEASE_TTL) -> subprocess.Popen:
        """An `aion worker` node that has printed its banner (it owns its share and serves requests)."""
        child = subprocess.Popen(self.command("worker", STEPS, "--node-id", node_id, "--lease-ttl", str(lease_ttl)),
                                 cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=open(
                                     self.cwd / f"{node_id}.stderr", "a"), text=True)
        line = child.stdout.readline()
        assert line.startswith("aion worker: serving"), (line, (self.cwd / f"{node_id}.stderr").read_text())
        self.nodes[node_id] = child
        return child

    def kill(self, node_id: str, sig: int = signal.SIGKILL) -> None:
        child = self.nodes.pop(node_id)
        child.send_signal(sig)
        child.wait(timeout=60)

    def freeze(self, node_id: str) -> subprocess.Popen:
        """SIGSTOP a node between two of its SQLite writes (`tests.freezing`)."""
        return freeze(self.nodes[node_id], self.store_url)

    def stop_all(self) -> None:
        for child in self.nodes.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for node_id, child in list(self.nodes.items()):
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.nodes.clear()

    def owners(self) -> dict[int, str | None]:
        return {lease.shard: lease.owner for lease in self.store.leases() if lease.live}

    def history(self, workflow_id: str) -> list[ev.HistoryEvent]:
        return [ev.from_stored(s) for s in self.store.read_history(workflow_id)]

    def wait_closed(self, workflow_ids, timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        statuses = {}
        while time.monotonic() < deadline:
            statuses = {w: self.store.get_summary(w) for w in workflow_ids}
            if all(s is not None and s.closed_at is not None for s in statuses.values()):
                return {w: s.status for w, s in statuses.items()}
            time.sleep(0.1)
        open_ = [w for w, s in statuses.items() if s is None or s.closed_at is None]
        raise AssertionError(f"{len(open_)} workflows still open after {timeout}s: {open_[:5]}; "
                             f"owners {set(self.owners().values())}; logs: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        return "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in self.cwd.glob("*.stderr"))

    def executions(self) -> collections.Counter:
        """(workflow, activity id, attempt) → how many times the activity's code ran."""
        lines = [json.loads(line) for line in self.side_log.read_text().splitlines() if line]
        return collections.Counter((x["workflow_id"], x["activity_id"], x["attempt"]) for x in lines)

    def pids(self) -> dict[tuple[str, int, int], int]:
        """(workflow, activity id, attempt) → the pid of the node that ran it (the last, if several)."""
        lines = [json.loads(line) for line in self.side_log.read_text().splitlines() if line]
        return {(x["workflow_id"], x["activity_id"], x["attempt"]): x["pid"] for x in lines}

    def recorded_attempts(self, workflow_ids) -> set[tuple[str, int, int]]:
        return {(w, e.event.activity_id, e.event.attempt) for w in workflow_ids for e in self.history(w)
                if isinstance(e.event, ev.ActivityStarted)}

    def assert_clean(self, workflow_ids) -> None:
        """Every workflow completed once, its seqs unbroken; no activity ran without a recorded
        attempt, and none ran again after its attempt's completion was recorded."""
        for w in workflow_ids:
            history = self.history(w)
            ends = [e for e in history if isinstance(e.event, (ev.WorkflowCompleted, ev.WorkflowFailed))]
            assert len(ends) == 1 and isinstance(ends[0].event, ev.WorkflowCompleted), (w, [
                e.event for e in history][-5:])
            assert [e.seq for e in history] == list(range(1, len(history) + 1))
        ran = self.executions()
        recorded = self.recorded_attempts(workflow_ids)
        assert set(ran) <= recorded, sorted(set(ran) - recorded)[:5]
        completed_at = {(w, e.event.activity_id, e.event.attempt): e.recorded_at.timestamp()
                        for w in workflow_ids for e in self.history(w) if isinstance(e.event, ev.ActivityCompleted)}
        lines = [json.loads(line) for line in self.side_log.read_text().splitlines() if line]
        late = [x for x in lines if (key := (x["workflow_id"], x["activity_id"], x["attempt"])) in completed_at
                and x["at"] > completed_at[key]]
        assert not late, late[:5]

    def close(self) -> None:
        self.stop_all()
        self.store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/aion.db"
    else:
        url = request.getfixturevalue("postgres_url")
    runner = Cluster(url, tmp_path)
    try:
        yield runner
    finally:
        runner.close()
