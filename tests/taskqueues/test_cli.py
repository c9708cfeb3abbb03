"""`aion worker --task-queue`: its mistakes are refused with what to do instead."""

from __future__ import annotations

import subprocess
import sys

from tests.taskqueues.conftest import APP


def aion(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aion_actors.cli", *args, "--store", f"sqlite:///{tmp_path}/a.db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_no_shards_needs_a_task_queue(tmp_path):
    done = aion(tmp_path, "worker", APP, "--no-shards")
    assert done.returncode != 0
    assert "--task-queue NAME" in done.stderr


def test_a_bad_queue_name_is_refused(tmp_path):
    done = aion(tmp_path, "worker", APP, "--no-shards", "--task-queue", " gpu")
    assert done.returncode != 0
    assert "task queue name" in done.stderr


def test_help_names_the_task_queue_options(tmp_path):
    done = aion(tmp_path, "worker", "--help")
    for option in ("--task-queue", "--no-shards", "--worker-concurrency", "--concurrency", "--rate-limit",
                   "--task-lease"):
        assert option in done.stdout
