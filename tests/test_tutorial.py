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
    assert elapsed(reminder) >= 0.5


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


def test_supervised_job_resumes_from_its_heartbeat_and_the_tree_restarts_one_child(store):
    out = load("06_supervised_job").main(store=store)
    job = out["job"]
    assert job["attempts"][:3] == [
        "attempt 1 started",
        "attempt 1 failed: the process running attempt 1 of 'process_batch' died before reporting",
        "attempt 2 started"]
    result = job["result"]
    assert result["processed"] == 1000 and result["attempt"] == 2
    # Resumed from a heartbeat recorded while attempt 1 ran (at most one a second), not from 0.
    assert 1 < result["resumed_from"] <= 600
    assert out["tree"] == {"children": {"counter": {"moved": False, "restarts": 0},
                                        "fetcher": {"moved": True, "restarts": 1}},
                           "count": 3}


def test_testing_a_trial_takes_milliseconds_with_fakes_and_replay(store):
    out = load("08_testing").main(store=store)
    assert out["result"] == {"charge": "ch_ann", "days": 14.042}   # 14 days + the 1 h retry backoff
    assert out["wall_ms"] < 5000   # generous: a 14-day run on the virtual clock
    assert out["calls"] == ["charge ann 900", "charge ann 900", "receipt ann ch_ann"]
    assert out["halfway"] == "trial" and out["after"] == "completed"
    assert out["second"] == {"charge": "ch_bob", "days": 14.042}
    assert out["history"].count("ActivityFailed") == 1 and out["history"][-1] == "WorkflowCompleted"
    assert out["refused"].startswith("non-determinism")


# The examples' workflows with realistic durations, on the test kit's virtual clock: days of
# waiting in milliseconds, and the branches the examples' short real-time runs do not take.

DAY = 86_400


def elapsed(log_line: str) -> float:
    """The workflow time a line of 03's log was written at ("+12.3s ...")."""
    return float(log_line.split("s ")[0].lstrip("+"))


def test_timers_a_reminder_after_a_day_and_an_escalation_after_a_week():
    from aion_actors.testing import WorkflowEnvironment

    reminders = load("03_timers").reminders
    with WorkflowEnvironment(workflows=[reminders]) as env:
        task = {"title": "file the expense report", "remind_after": DAY, "escalate_after": 7 * DAY}
        finished = env.start(reminders, task)
        env.sleep(DAY)
        (reminded,) = finished.query("log")
        assert reminded.endswith("reminder: 'file the expense report' is still open")
        assert DAY <= elapsed(reminded) < DAY + 60    # fired when due, on the virtual clock
        finished.signal("done", "carol")
        done = finished.result(timeout=30)
        assert done["fired"] == ["1:reminder"] and done["cancelled"] == ["2:escalate"]

        forgotten = env.start(reminders, task)
        env.sleep(8 * DAY)      # nobody finishes it: the escalation fires after a week
        assert finished.describe().status.value == "completed"
        escalated = forgotten.query("log")[-1]
        assert escalated.endswith("escalated: nobody finished it in time")
        assert 7 * DAY <= elapsed(escalated) < 7 * DAY + 60
        forgotten.signal("done", "dave")
        late = forgotten.result(timeout=30)
        assert late["fired"] == ["1:reminder", "2:escalate"] and late["cancelled"] == []


def test_signals_an_approval_that_waits_a_week_times_out_on_the_virtual_clock():
    from aion_actors.testing import WorkflowEnvironment

    expense_approval = load("02_signals_and_queries").expense_approval
    with WorkflowEnvironment(workflows=[expense_approval]) as env:
        approved = env.start(expense_approval, {"amount": 120, "wait_seconds": 7 * DAY})
        approved.signal("comment", "receipt attached")
        approved.signal("approve", {"by": "alice"})
        env.sleep(6 * DAY)      # the second approval comes on the sixth day: in time
        approved.signal("approve", {"by": "bob"})
        assert approved.result(timeout=30)["approved_by"] == ["alice", "bob"]

        before = env.now()
        ignored = env.start(expense_approval, {"amount": 75, "wait_seconds": 7 * DAY})
        assert ignored.result(timeout=30) == {"outcome": "timed out", "amount": 75, "approved_by": []}
        assert (env.now() - before).total_seconds() >= 7 * DAY


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
