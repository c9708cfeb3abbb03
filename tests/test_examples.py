"""Every example runs as the tutorial says, in a fresh process, on a fresh store."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    done = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert (tmp_path / "aion.db").exists()


def test_hello_prints_the_greeting_and_its_history(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES[0])], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert "Hello, world!" in done.stdout
    assert "WorkflowStarted" in done.stdout and "WorkflowCompleted" in done.stdout
