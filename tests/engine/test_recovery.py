"""Crash recovery with real OS processes killed by SIGKILL.

A child process opens an Engine on a SQLite file, starts workflows with
fixed ids and is killed (its whole process group, SIGKILL) at a chosen
point: mid-activity, mid-durable-sleep, right after a signal or right after
`start()` returned. A fresh Engine on the same file (in another process, or
in the test process) must then finish every workflow with the right result,
never re-run a completed activity, re-dispatch the interrupted one with the
next attempt number, fire each timer exactly once and deliver each signal
exactly once. Side effects are counted in a file the activities append to
(see `crashy_workflows`).

One representative test runs by default; the rest are `slow`
(`pytest -m "slow or not slow" tests/engine/test_recovery.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from aion_actors import events as ev
from tests.engine import crashy_workflows as cw
from tests.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0  # generous: every wait polls against it, nothing asserts on speed
_CHILD_CODE = "from tests.engine.crashy_workflows import main; main()"


# -- harness -------------------------------------------------------------------


@dataclass
class Child:
    proc: subprocess.Popen
    name: str
    progress: Path
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return (f"--- {self.name} stdout ---\n{_read(self.stdout)}\n"
                f"--- {self.name} stderr ---\n{_read(self.stderr)}")

    def progress_lines(self) -> list[str]:
        return _read(self.progress).splitlines()

    def saw(self, line_prefix: str) -> bool:
        return any(line.startswith(line_prefix) for line in self.progress_lines())


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already gone
    proc.wait(timeout=DEADLINE)


class Lab:
    """One SQLite store, one effects file, and the child processes of a test (all killed at teardown)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.store = f"sqlite:///{tmp_path}/aion.db"
        self.effects_path = tmp_path / "effects.txt"
        self.children: list[Child] = []

    # child processes

    def _spawn(self, mode: str, plan: dict, *, hold: bool, name: str) -> Child:
        env = dict(os.environ)
        env[cw.EFFECTS_ENV] = str(self.effects_path)
        env.pop(cw.HOLD_ENV, None)
        if hold:
            env[cw.HOLD_ENV] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        index = len(self.children)
        stdout, stderr = self.tmp / f"{index}-{name}.out", self.tmp / f"{index}-{name}.err"
        progress = self.tmp / f"{index}-{name}.progress"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD_CODE, mode, json.dumps(plan)],
                                    cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        child = Child(proc, name, progress, stdout, stderr)
        self.children.append(child)
        return child

    def serve(self, actions: list, watch: list[str], *, hold: bool = True, name: str = "serve") -> Child:
        """A child that opens an engine, performs `actions`, then reports progress until killed."""
        plan = {"store": self.store, "actions": actions, "watch": watch,
                "progress": str(self.tmp / f"{len(self.children)}-{name}.progress")}
        return self._spawn("serve", plan, hold=hold, name=name)

    def recover_in_subprocess(self, ids: list[str]) -> dict:
        """A fresh process opens the engine, waits for every result and exits cleanly."""
        out = self.tmp / f"recovered-{len(self.children)}.json"
        child = self._spawn("recover", {"store": self.store, "ids": ids, "out": str(out), "timeout": DEADLINE},
                            hold=False, name="recover")
        try:
            code = child.proc.wait(timeout=DEADLINE + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the recovery process did not finish\n{child.output()}")
        assert code == 0, f"the recovery process exited with {code}\n{child.output()}"
        return json.loads(out.read_text())

    def kill(self, child: Child) -> None:
        assert child.proc.poll() is None, f"{child.name} died before it was killed\n{child.output()}"
        _kill_group(child.proc)
        assert child.proc.returncode == -signal.SIGKILL

    def wait_killed_itself(self, child: Child) -> None:
        try:
            child.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{child.name} did not kill itself\n{child.output()}")
        assert child.proc.returncode == -signal.SIGKILL, child.output()

    def wait_until(self, condition, what: str, child: Child) -> None:
        def reached() -> bool:
            if child.proc.poll() is not None:
                pytest.fail(f"{child.name} exited ({child.proc.returncode}) before {what}\n{child.output()}")
            return condition()

        wait_for(reached, what, DEADLINE, detail=lambda: f"effects: {self.effect_lines()}\n"
                                                         f"progress: {child.progress_lines()}\n{child.output()}")

    def shutdown(self) -> None:
        for child in self.children:
            _kill_group(child.proc)

    # side effects

    def effect_lines(self) -> list[str]:
        return _read(self.effects_path).splitlines()

    def effects(self) -> Counter:
        return Counter(self.effect_lines())


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.shutdown()  # no child process survives the test, whatever happened


@pytest.fixture
def inline_effects(lab, monkeypatch):
    """Let activities run by an engine in the test process write to the lab's effects file."""
    monkeypatch.setenv(cw.EFFECTS_ENV, str(lab.effects_path))
    monkeypatch.delenv(cw.HOLD_ENV, raising=False)


# -- history checks ------------------------------------------------------------


def of_type(history, cls) -> list:
    return [item.event for item in history if isinstance(item.event, cls)]


def activity_id_of(history, name_fragment: str) -> int:
    """The id of the one activity whose first argument contains `name_fragment`."""
    from aion_actors import converter

    ids = [e.activity_id for e in of_type(history, ev.ActivityScheduled)
           if name_fragment in converter.decode_value(e.input)[0]]
    assert len(ids) == 1, f"expected one activity named *{name_fragment}*, got {ids}"
    return ids[0]


def attempts(history, activity_id: int) -> list[int]:
    return [e.attempt for e in of_type(history, ev.ActivityStarted) if e.activity_id == activity_id]


def assert_each_activity_completed_once(history) -> None:
    scheduled = [e.activity_id for e in of_type(history, ev.ActivityScheduled)]
    assert len(scheduled) == len(set(scheduled)), f"an activity was scheduled twice: {scheduled}"
    completed = Counter(e.activity_id for e in of_type(history, ev.ActivityCompleted))
    assert completed == Counter(scheduled), f"scheduled {scheduled}, completed {dict(completed)}"
    for done in of_type(history, ev.ActivityCompleted):
        # the completion is that of the last attempt started, and attempts count 1, 2, 3...
        started = attempts(history, done.activity_id)
        assert started == list(range(1, len(started) + 1)), started
        assert done.attempt == started[-1], (done, started)
    assert not of_type(history, ev.ActivityFailed)


def assert_one_run(history) -> None:
    kinds = [item.type_name for item in history]
    assert kinds.count("WorkflowStarted") == 1 and kinds[0] == "WorkflowStarted", kinds
    assert kinds[-1] == "WorkflowCompleted" and kinds.count("WorkflowCompleted") == 1, kinds
    assert [item.seq for item in history] == list(range(1, len(history) + 1))


def assert_timers_fired_once(history) -> list[tuple[ev.TimerStarted, datetime]]:
    """Every timer started once and fired once, never before its deadline; returns (start, fired_at)."""
    started = of_type(history, ev.TimerStarted)
    fired = Counter(e.timer_id for e in of_type(history, ev.TimerFired))
    assert len({t.timer_id for t in started}) == len(started), started
    assert fired == Counter(t.timer_id for t in started), (started, fired)
    fired_at = {item.event.timer_id: item.recorded_at for item in history if isinstance(item.event, ev.TimerFired)}
    for timer in started:
        assert fired_at[timer.timer_id] >= timer.fire_at, f"{timer.timer_id} fired before its deadline"
    return [(t, fired_at[t.timer_id]) for t in started]


def histories(store: str, ids: list[str]) -> dict[str, list]:
    """Open an engine on the (now quiet) store and read the histories; nothing is left to resume."""
    with cw.open_engine(store) as engine:
        assert engine.resumed == 0
        return {wid: engine.get_handle(wid).history() for wid in ids}


# -- the default-run representative test ---------------------------------------


def test_sigkill_mid_activity_and_mid_sleep_recovers_in_a_fresh_process(lab):
    child = lab.serve([["start", "crash_pipeline", "p", "pipe"],
                       ["start", "crash_nap", {"tag": "n", "seconds": 3.0}, "nap"]],
                      watch=["pipe", "nap"])
    lab.wait_until(lambda: "start:p-slow" in lab.effect_lines() and child.saw("nap TimerStarted"),
                   "the slow activity to start and the nap timer to be recorded", child)
    lab.kill(child)

    before = lab.effects()
    assert before == Counter({"p-a": 1, "start:p-slow": 1, "n-a": 1}), before

    recovered = lab.recover_in_subprocess(["pipe", "nap"])
    assert recovered["resumed"] == 2
    assert recovered["results"] == {"pipe": {"ok": ["p-a", "p-slow", "p-c"]}, "nap": {"ok": ["n-a", "n-b"]}}

    after = lab.effects()
    assert after == Counter({"p-a": 1, "start:p-slow": 2, "end:p-slow": 1, "p-c": 1, "n-a": 1, "n-b": 1}), after

    found = histories(lab.store, ["pipe", "nap"])
    pipe, nap = found["pipe"], found["nap"]
    for history in (pipe, nap):
        assert_one_run(history)
        assert_each_activity_completed_once(history)
    assert attempts(pipe, activity_id_of(pipe, "p-slow")) == [1, 2]
    assert attempts(pipe, activity_id_of(pipe, "p-a")) == [1]
    assert attempts(pipe, activity_id_of(pipe, "p-c")) == [1]
    ((timer, fired_at),) = assert_timers_fired_once(nap)
    assert fired_at.timestamp() >= recovered["opened_at"], "the timer fired in the killed process?"


# -- slow tests ----------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_activity_recovered_in_the_test_process(lab, inline_effects):
    """Same crash, recovered by an engine in this very process; the history shows attempt 2."""
    child = lab.serve([["start", "crash_pipeline", "q", "pipe"]], watch=["pipe"])
    lab.wait_until(lambda: child.saw("pipe ActivityStarted 2 1") and "start:q-slow" in lab.effect_lines(),
                   "the second activity's first attempt to start", child)
    lab.kill(child)

    with cw.open_engine(lab.store) as engine:
        assert engine.resumed == 1
        handle = engine.get_handle("pipe")
        assert handle.result(timeout=DEADLINE) == ["q-a", "q-slow", "q-c"]
        history = handle.history()
    assert lab.effects() == Counter({"q-a": 1, "start:q-slow": 2, "end:q-slow": 1, "q-c": 1})
    assert_one_run(history)
    assert_each_activity_completed_once(history)
    slow = activity_id_of(history, "q-slow")
    assert attempts(history, slow) == [1, 2]
    (done,) = [e for e in of_type(history, ev.ActivityCompleted) if e.activity_id == slow]
    assert done.attempt == 2


@pytest.mark.slow
def test_signal_before_the_kill_is_neither_lost_nor_duplicated(lab, inline_effects):
    """The signal was recorded and consumed; the kill lands in the activity it triggered."""
    child = lab.serve([["start", "crash_gated", "g", "gate"], ["signal", "gate", "go", {"by": "alice"}]],
                      watch=["gate"])
    lab.wait_until(lambda: "start:g-slow-alice" in lab.effect_lines(), "the signalled step to start", child)
    lab.kill(child)

    with cw.open_engine(lab.store) as engine:
        assert engine.resumed == 1
        handle = engine.get_handle("gate")
        assert handle.result(timeout=DEADLINE) == {"by": "alice", "steps": ["g-slow-alice", "g-done"]}
        history = handle.history()
    assert lab.effects() == Counter({"start:g-slow-alice": 2, "end:g-slow-alice": 1, "g-done": 1})
    signals = of_type(history, ev.SignalReceived)
    assert [s.name for s in signals] == ["go"]
    assert_one_run(history)
    assert_each_activity_completed_once(history)
    assert attempts(history, activity_id_of(history, "g-slow")) == [1, 2]


@pytest.mark.slow
def test_kill_right_after_signal_returned_delivers_it_once_after_restart(lab):
    """signal() returned (recorded) and the process died at once: it is delivered after restart, once."""
    child = lab.serve([["start", "crash_gated", "h", "gate"], ["signal", "gate", "go", {"by": "bob"}],
                       ["selfkill"]], watch=["gate"])
    lab.wait_killed_itself(child)

    recovered = lab.recover_in_subprocess(["gate"])
    assert recovered["resumed"] == 1
    assert recovered["results"] == {"gate": {"ok": {"by": "bob", "steps": ["h-slow-bob", "h-done"]}}}
    effects = lab.effects()
    assert effects["end:h-slow-bob"] == 1 and effects["h-done"] == 1, effects
    assert 1 <= effects["start:h-slow-bob"] <= 2, effects
    history = histories(lab.store, ["gate"])["gate"]
    assert [(s.name, s.payload is not None) for s in of_type(history, ev.SignalReceived)] == [("go", True)]
    assert_one_run(history)
    assert_each_activity_completed_once(history)
    # every run of the activity was preceded by its own recorded attempt
    assert effects["start:h-slow-bob"] <= len(attempts(history, activity_id_of(history, "h-slow")))


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", ["start-returned", "first-activity-running"])
def test_kill_after_start_before_the_first_activity_finished(lab, inline_effects, kill_point):
    """`start()` returned (the run is durable) and the process died before the first activity finished."""
    if kill_point == "start-returned":
        child = lab.serve([["start", "crash_slow_first", "s", "first"], ["selfkill"]], watch=["first"])
        lab.wait_killed_itself(child)
    else:
        child = lab.serve([["start", "crash_slow_first", "s", "first"]], watch=["first"])
        lab.wait_until(lambda: "start:s-first" in lab.effect_lines(), "the first activity to start", child)
        lab.kill(child)
    before = lab.effects()
    assert before["end:s-first"] == 0 and before["s-second"] == 0, before

    with cw.open_engine(lab.store) as engine:
        assert engine.resumed == 1
        handle = engine.get_handle("first")
        assert handle.result(timeout=DEADLINE) == ["s-first", "s-second"]
        history = handle.history()
    after = lab.effects()
    assert after["end:s-first"] == 1 and after["s-second"] == 1, after
    assert after["start:s-first"] == before["start:s-first"] + 1, after  # exactly one run after restart
    assert_one_run(history)
    assert_each_activity_completed_once(history)
    first_attempts = attempts(history, activity_id_of(history, "s-first"))
    assert after["start:s-first"] <= len(first_attempts)
    if kill_point == "first-activity-running":
        assert first_attempts == [1, 2]


@pytest.mark.slow
def test_timer_due_while_the_engine_was_dead_fires_once_at_open(lab, inline_effects):
    child = lab.serve([["start", "crash_nap", {"tag": "d", "seconds": 2.0}, "nap"]], watch=["nap"])
    lab.wait_until(lambda: child.saw("nap TimerStarted"), "the timer to be recorded", child)
    lab.kill(child)
    (line,) = [line for line in child.progress_lines() if line.startswith("nap TimerStarted")]
    fire_at = float(line.split()[-1])
    assert not child.saw("nap TimerFired") and lab.effects()["d-b"] == 0, "the timer fired before the kill"
    wait_for(lambda: time.time() >= fire_at + 0.3, "the timer to fall due while no engine runs", every=0.05)

    opened_at = time.time()
    with cw.open_engine(lab.store) as engine:
        assert engine.resumed == 1
        handle = engine.get_handle("nap")
        assert handle.result(timeout=DEADLINE) == ["d-a", "d-b"]
        history = handle.history()
    assert lab.effects() == Counter({"d-a": 1, "d-b": 1})
    assert_one_run(history)
    assert_each_activity_completed_once(history)
    ((timer, fired_at),) = assert_timers_fired_once(history)
    assert fired_at.timestamp() >= opened_at  # fired by the new engine, from the store


@pytest.mark.slow
def test_two_crashes_in_a_row_count_attempts_on_and_keep_the_sleep(lab):
    """Killed mid-activity and mid-sleep, the engine that resumes them is killed too: attempt 3, one fire."""
    first = lab.serve([["start", "crash_pipeline", "r", "pipe"],
                       ["start", "crash_nap", {"tag": "m", "seconds": 4.0}, "nap"]], watch=["pipe", "nap"])
    lab.wait_until(lambda: "start:r-slow" in lab.effect_lines() and first.saw("nap TimerStarted"),
                   "the slow activity and the nap timer", first)
    lab.kill(first)

    second = lab.serve([], watch=["pipe", "nap"], name="serve-again")
    lab.wait_until(lambda: lab.effects()["start:r-slow"] == 2 and second.saw("pipe ActivityStarted 2 2"),
                   "the resumed engine to re-dispatch the slow activity", second)
    assert second.progress_lines()[0] == "opened resumed=2"
    lab.kill(second)

    recovered = lab.recover_in_subprocess(["pipe", "nap"])
    assert recovered["resumed"] == 2
    assert recovered["results"] == {"pipe": {"ok": ["r-a", "r-slow", "r-c"]}, "nap": {"ok": ["m-a", "m-b"]}}
    assert lab.effects() == Counter({"r-a": 1, "start:r-slow": 3, "end:r-slow": 1, "r-c": 1, "m-a": 1, "m-b": 1})
    found = histories(lab.store, ["pipe", "nap"])
    for history in found.values():
        assert_one_run(history)
        assert_each_activity_completed_once(history)
    assert attempts(found["pipe"], activity_id_of(found["pipe"], "r-slow")) == [1, 2, 3]
    assert_timers_fired_once(found["nap"])


@pytest.mark.slow
def test_kill_during_a_retry_backoff_resumes_with_the_next_attempt_once(lab, inline_effects):
    """Attempt 1 failed (retryable) and the process died during the backoff: attempt 2 runs once, after it."""
    child = lab.serve([["start", "crash_backoff", {"tag": "b", "backoff": 1.5}, "retry"]], watch=["retry"])
    lab.wait_until(lambda: child.saw("retry TimerStarted"), "the retry timer to be recorded", child)
    lab.kill(child)
    assert lab.effects() == Counter({"b:1": 1})

    with cw.open_engine(lab.store) as engine:
        assert engine.resumed == 1
        handle = engine.get_handle("retry")
        assert handle.result(timeout=DEADLINE) == "b"
        history = handle.history()
    assert lab.effects() == Counter({"b:1": 1, "b:2": 1})
    assert_one_run(history)
    (activity_id,) = [e.activity_id for e in of_type(history, ev.ActivityScheduled)]
    assert attempts(history, activity_id) == [1, 2]
    assert [(f.attempt, f.kind) for f in of_type(history, ev.ActivityFailed)] == [(1, ev.RETRYABLE)]
    assert [(c.activity_id, c.attempt) for c in of_type(history, ev.ActivityCompleted)] == [(activity_id, 2)]
    assert_timers_fired_once(history)


@pytest.mark.slow
def test_kill_while_a_child_runs_gives_the_parent_its_result_and_spawns_the_child_once(lab, inline_effects):
    """The child is mid-activity at the kill; after restart the parent gets its result, one child only."""
    child = lab.serve([["start", "crash_parent", "k", "parent"]], watch=["parent"])
    lab.wait_until(lambda: "start:k-kid-first" in lab.effect_lines(), "the child's first activity to start", child)
    lab.kill(child)

    with cw.open_engine(lab.store) as engine:
        parent = engine.get_handle("parent")
        assert parent.result(timeout=DEADLINE) == ["k-before", ["k-kid-first", "k-kid-second"]]
        history = parent.history()
        kid = engine.get_handle("parent/1").history()
    assert lab.effects() == Counter({"k-before": 1, "start:k-kid-first": 2, "end:k-kid-first": 1,
                                     "k-kid-second": 1})
    assert len(of_type(history, ev.ChildWorkflowStarted)) == 1
    assert len(of_type(history, ev.ChildWorkflowCompleted)) == 1
    assert len(of_type(kid, ev.WorkflowStarted)) == 1 and kid[0].event.parent_workflow_id == "parent"
    assert_one_run(history)
    assert_each_activity_completed_once(kid)


@pytest.mark.slow
def test_an_activity_deadline_recorded_before_a_kill_still_ends_it_after_restart(lab, inline_effects):
    """schedule_to_close is a durable timer: the engine that resumes the run enforces it, once."""
    child = lab.serve([["start", "crash_deadline", {"tag": "d", "seconds": 8.0, "deadline": 2.0}, "deadline"]],
                      watch=["deadline"])
    lab.wait_until(lambda: "start:d" in lab.effect_lines(), "the slow activity to start", child)
    lab.kill(child)

    with cw.open_engine(lab.store) as engine:
        handle = engine.get_handle("deadline")
        result = handle.result(timeout=DEADLINE)
        history = handle.history()
    assert result.startswith("gave up: ") and "schedule_to_close" in result
    assert "end:d" not in lab.effect_lines()          # the deadline ended it, not the activity
    fired = [e.timer_id for e in of_type(history, ev.TimerFired)]
    assert fired == [t for t in fired if "schedule_to_close" in t] and len(fired) == 1
    assert_one_run(history)
