"""Task queue tests: an owner `Engine` in the test, workers as real `aion worker` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import aion_actors as aion
from aion_actors import events as ev
from tests.freezing import freeze
from tests.taskqueues import app

APP = str(Path(__file__).with_name("app.py"))
REPO = str(Path(__file__).resolve().parents[2])
WORKFLOWS = [app.one, app.retried, app.resumable, app.fan_out, app.late, app.cancellable, app.bounded,
             app.prioritized]
ACTIVITIES = [app.render, app.fails_twice, app.progress, app.job, app.slow_first, app.until_cancelled]


class Workers:
    def __init__(self, store: str, tmp_path: Path) -> None:
        self.store = store
        self.cwd = tmp_path
        self.side_log = tmp_path / "side-effects.jsonl"
        self.side_log.touch()
        os.environ["AION_SIDE_LOG"] = str(self.side_log)  # for workers in this process too
        self.env = {**os.environ, "AION_STORE": store,
                    "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, node: bool = False) -> subprocess.Popen:
        """An `aion worker --task-queue gpu` process, once it has printed its banner: worker-only, or
        with `node` a node of the cluster too (it owns shards)."""
        role = ["--node-id", name, "--lease-ttl", "2"] if node else ["--no-shards"]
        command = [sys.executable, "-m", "aion_actors.cli", "worker", APP, *role, "--task-queue", "gpu",
                   "--task-lease", "1", *args]
        child = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                 stderr=open(self.cwd / f"{name}.stderr", "a"), text=True)
        line = child.stdout.readline()
        assert line.startswith("aion worker: serving"), (line, (self.cwd / f"{name}.stderr").read_text())
        self.procs[name] = child
        return child

    def freeze(self, name: str) -> subprocess.Popen:
        """SIGSTOP a worker between two of its SQLite writes (`tests.freezing`)."""
        return freeze(self.procs[name], self.store)

    def signal(self, name: str, sig: int) -> None:
        self.procs[name].send_signal(sig)
        if sig == signal.SIGKILL:
            self.procs.pop(name).wait(timeout=30)

    def stop_all(self) -> None:
        for child in self.procs.values():
            if child.poll() is None:
                child.send_signal(signal.SIGCONT)
                child.send_signal(signal.SIGTERM)
        for child in self.procs.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.procs.clear()

    def lines(self, event: str | None = None) -> list[dict]:
        found = [json.loads(line) for line in self.side_log.read_text().splitlines() if line]
        return [x for x in found if event is None or x["event"] == event]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aion.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def workers(store_url, tmp_path):
    w = Workers(store_url, tmp_path)
    yield w
    w.stop_all()


@pytest.fixture
def owner(store_url, workers):
    """The engine that owns the workflows. It knows the activities too, but serves no task queue:
    it must never run a gpu attempt (it would log them with its own pid)."""
    with aion.Engine(store_url, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        yield engine


def completions(handle) -> list[ev.ActivityCompleted]:
    return [e.event for e in handle.history() if isinstance(e.event, ev.ActivityCompleted)]
