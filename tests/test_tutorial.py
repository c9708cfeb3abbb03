"""The tutorial's examples do what their docstrings say: each `main()` is called on a fresh store."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(stem: str):
    spec = importlib.util.spec_from_file_location(f"tutorial_{stem}", EXAMPLES / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path}/x.db"


def test_signals_approve_one_run_and_the_other_times_out(store):
    out = load("02_signals_and_queries").main(store=store)
    assert out["approved"] == {"outcome": "approved", "amount": 120, "approved_by": ["alice", "bob"],
                               "comment": "receipt attached"}
    assert out["timed_out"] == {"outcome": "timed out", "amount": 75, "approved_by": []}
    # The query answers from the live state, before and after the first approval ...
    assert out["statuses"] == [{"stage": "waiting for approval", "approved_by": []},
                               {"stage": "waiting for 1 more approval", "approved_by": ["alice"]}]
    approved, timed_out = out["histories"]
    # ... and records nothing; signals are recorded, the early comment included.
    assert not any("Query" in kind for kind in approved + timed_out)
    assert approved.count("SignalReceived") == 3
    assert approved[-1] == "WorkflowCompleted"
    assert "SignalReceived" not in timed_out and "TimerFired" in timed_out


def test_timers_one_fires_after_a_restart_and_one_is_cancelled(store):
    out = load("03_timers").main(store=store)
    assert out["fired"] == ["1:reminder"]
    assert out["cancelled"] == ["2:escalate"]
    assert out["timer_events"] == [("TimerStarted", "1:reminder"), ("TimerStarted", "2:escalate"),
                                   ("TimerFired", "1:reminder"), ("TimerCancelled", "2:escalate")]
    reminder, done = out["log"]
    assert "reminder: 'file the expense report' is still open" in reminder
    assert done.endswith("done by carol; escalation cancelled")
    # workflow.now() is recorded time: the reminder fired no earlier than it was due.
    assert float(reminder.split("s ")[0].lstrip("+")) >= 0.5


def test_children_fan_out_with_derived_ids_and_fan_in(store):
    out = load("04_children_fan_out").main(store=store)
    assert out["children"] == [f"{out['parent']}/{n}" for n in (1, 2, 3)]
    assert out["result"] == {"per_chapter": [7, 5, 14], "total": 26}
    assert out["history"].count("ChildWorkflowStarted") == 3
    assert out["history"].count("ChildWorkflowCompleted") == 3
    # Record-then-spawn: every child is recorded before any outcome is.
    assert out["history"][1:4] == ["ChildWorkflowStarted"] * 3


def test_saga_ships_one_order_and_compensates_the_other(store):
    out = load("05_saga").main(store=store)
    shipped, compensated = out["A1"], out["B2"]
    assert shipped["status"] == "shipped"
    assert shipped["steps"] == ["charged 42 EUR: pay-A1", "reserved stock: res-A1", "shipped: trk-A1"]
    assert shipped["failed_attempts"] == [
        "reserve attempt 1: ConnectionError: inventory service unavailable (retryable)"]
    assert compensated["status"] == "compensated"
    # Compensations run in reverse order: release the stock, then refund the card.
    assert compensated["steps"] == ["charged 17 EUR: pay-B2", "reserved stock: res-B2",
                                    "failed: carrier refuses 'Atlantis'", "released res-B2", "refunded pay-B2"]
    # The non-retryable error stopped the retries after one attempt, despite max_attempts=5.
    assert compensated["failed_attempts"] == [
        "reserve attempt 1: ConnectionError: inventory service unavailable (retryable)",
        "ship attempt 1: ApplicationError: carrier refuses 'Atlantis' (terminal)"]


def test_versioning_old_run_keeps_its_path_and_replay_checks_the_code(store, tmp_path):
    out = load("07_versioning").main(store=store)
    assert out["results"] == {"old": ["charged 30 EUR", "shipped A-1"],
                              "new": ["charged 45 EUR", "fraud check passed", "shipped B-2"]}
    assert out["replay_exit_code"] == 0
    assert "2 replayed: 2 ok, 0 failed" in out["replay_output"]
    assert out["careless"].startswith(f"non-determinism in workflow '{out['old_id']}'")
    # The docstring's exercise: drop the guard, keep its body, and `aion replay` fails the deploy.
    source = (EXAMPLES / "07_versioning.py").read_text()
    guarded = ('    if workflow.patched("fraud-check"):\n'
               '        steps.append(await _step(check_fraud, order))\n')
    assert guarded in source
    careless = tmp_path / "careless.py"
    careless.write_text(source.replace(guarded, "    steps.append(await _step(check_fraud, order))\n"))
    done = subprocess.run([sys.executable, "-m", "aion_actors.cli", "replay", "--all", "--app", str(careless),
                           "--store", store], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"diverged  {out['old_id']} (shipping): non-determinism" in done.stdout
    assert "2 replayed: 0 ok, 2 failed" in done.stdout  # the new run recorded the patch marker too
