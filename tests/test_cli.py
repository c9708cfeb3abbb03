"""The read-only `aion` commands, through click's runner, on a real SQLite file."""

import json

from click.testing import CliRunner

import aion_actors as aion
from aion_actors.cli import main
from tests.engine.test_basics import add, sums


def test_list_history_describe(tmp_path):
    url = f"sqlite:///{tmp_path}/aion.db"
    with aion.Engine(store=url, workflows=[sums], activities=[add]) as engine:
        engine.start(sums, 2, id="cli-1").result(timeout=10)
    runner = CliRunner()
    listed = runner.invoke(main, ["list", "--store", url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [row["workflow_id"] for row in json.loads(listed.output)] == ["cli-1"]
    history = runner.invoke(main, ["history", "cli-1", "--store", url, "--json"])
    events = json.loads(history.output)
    assert events[0]["type"] == "WorkflowStarted" and events[0]["input"] == 2
    assert events[-1]["type"] == "WorkflowCompleted" and events[-1]["result"] == 1
    described = runner.invoke(main, ["describe", "cli-1", "--store", url, "--json"])
    assert json.loads(described.output)["status"] == "completed"
    table = runner.invoke(main, ["list", "--store", url])
    assert "cli-1" in table.output


def test_unknown_workflow_is_one_line(tmp_path, capfd):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from aion_actors.cli import run; run()", "history", "nope",
                           "--store", f"sqlite:///{tmp_path}/x.db"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "aion: workflow 'nope' not found (check the id, or the store URL)"
