"""The tutorial's examples do what their docstrings say: each `main()` is called on a fresh store."""

import importlib.util
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
