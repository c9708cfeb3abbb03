"""Running `aion` as a user does: in processes of its own, on one SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHOP = str(Path(__file__).with_name("shop.py"))
REPO = str(Path(__file__).resolve().parents[2])


class Aion:
    """Runs `aion ...` subprocesses against one store; kills any still running at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.store = f"sqlite:///{tmp_path}/aion.db"
        self.env = {**os.environ, "AION_STORE": self.store,
                    "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
        self.children: list[subprocess.Popen] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "aion_actors.cli", *args]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def json(self, *args: str) -> object:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def spawn(self, *args: str) -> subprocess.Popen:
        child = subprocess.Popen(self.command(*args), cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        self.children.append(child)
        return child

    def worker(self, *sources: str) -> subprocess.Popen:
        """An `aion worker` that has printed its banner (so it serves requests)."""
        child = self.spawn("worker", *(sources or (SHOP,)))
        line = child.stdout.readline()
        assert line.startswith("aion worker: serving"), (line, child.stderr.read() if child.poll() is not None
                                                         else "")
        return child

    def wait_for_event(self, workflow_id: str, event_type: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self("history", workflow_id, "--json")
            if done.returncode == 0 and any(e["type"] == event_type for e in json.loads(done.stdout)):
                return
            time.sleep(0.2)
        raise AssertionError(f"{workflow_id} recorded no {event_type} within {timeout}s")

    def stop(self, child: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 60) -> tuple[str, str]:
        child.send_signal(sig)
        return child.communicate(timeout=timeout)

    def kill_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.fixture
def aion(tmp_path):
    runner = Aion(tmp_path)
    try:
        yield runner
    finally:
        runner.kill_all()
