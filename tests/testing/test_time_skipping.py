"""Time skipping: virtual time jumps to the next timer while a result is awaited and nothing else is pending."""

import time

import pytest

import aion_actors as aion
from aion_actors.runtime.clock import SkippingClock
from aion_actors.testing import WorkflowEnvironment
from tests.waiting import wait_for

from .workflows import DAY, approval, flaky, lookup_with_deadline, retried, slow_lookup, sleep_for, two_naps


def events(handle, kind):
    return [e for e in handle.history() if e.type_name == kind]


def test_a_thirty_day_sleep_completes_at_once_on_virtual_time():
    with WorkflowEnvironment(workflows=[sleep_for]) as env:
        before = env.now()
        wall = time.monotonic()
        handle = env.start(sleep_for, 30 * DAY)
        slept = handle.result(timeout=30)
        wall = time.monotonic() - wall
        assert wall < 5   # generous: it is milliseconds, and would be 30 days without skipping
        assert slept >= 30 * DAY
        (started,), (fired,) = events(handle, "TimerStarted"), events(handle, "TimerFired")
        # Recorded times follow the virtual clock: the fire is recorded when due, not before.
        assert fired.recorded_at >= started.event.fire_at
        assert (env.now() - before).total_seconds() >= 30 * DAY


def test_retry_backoff_is_skipped_but_recorded_in_full():
    with WorkflowEnvironment(workflows=[retried], activities=[flaky]) as env:
        handle = env.start(retried, 3)
        assert handle.result(timeout=30) == "ok on attempt 4"
        starts = [e.recorded_at for e in events(handle, "ActivityStarted")]
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:])]
        assert len(gaps) == 3
        # 1 h, 2 h, 4 h of virtual backoff between the attempts.
        for gap, interval in zip(gaps, [3600, 7200, 14400]):
            assert gap >= interval


def test_receive_timeout_fires_on_virtual_time_when_no_signal_comes():
    with WorkflowEnvironment(workflows=[approval]) as env:
        handle = env.start(approval, 7 * DAY)
        outcome = handle.result(timeout=30)
        assert outcome["approved_by"] is None
        assert outcome["waited"] >= 7 * DAY
        assert [e.type_name for e in handle.history()][-2:] == ["TimerFired", "WorkflowCompleted"]


def test_no_time_is_skipped_before_a_result_is_awaited():
    # Between start and result() virtual time runs with wall time only: the test can
    # signal a workflow that waits with a timeout without the timeout firing first.
    with WorkflowEnvironment(workflows=[approval]) as env:
        handle = env.start(approval, 3600)
        wait_for(lambda: events(handle, "TimerStarted"), "its receive's timer to be recorded")
        assert handle.query("stage") == "waiting"
        handle.signal("approve", "alice")
        outcome = handle.result(timeout=30)
        assert outcome["approved_by"] == "alice"
        assert outcome["waited"] < 3600
        assert "TimerFired" not in [e.type_name for e in handle.history()]


def test_a_running_activity_holds_virtual_time_so_its_timeout_does_not_fire_early():
    with WorkflowEnvironment(workflows=[lookup_with_deadline], activities=[slow_lookup]) as env:
        handle = env.start(lookup_with_deadline, 1.0)   # 1 s of wall time against a 10 s deadline
        assert handle.result(timeout=30) == "looked up"
        assert "TimerFired" not in [e.type_name for e in handle.history()]


def test_env_sleep_fires_a_timer_when_due_and_not_before():
    with WorkflowEnvironment(workflows=[sleep_for]) as env:
        handle = env.start(sleep_for, 10 * DAY)
        env.sleep(9 * DAY)
        assert not events(handle, "TimerFired")
        assert handle.describe().status == aion.WorkflowStatus.RUNNING
        env.sleep(365 * DAY)   # far past the due time: the timer still fires at its own due time
        (started,), (fired,) = events(handle, "TimerStarted"), events(handle, "TimerFired")
        late = (fired.recorded_at - started.event.fire_at).total_seconds()
        assert 0 <= late < 60
        assert handle.result(timeout=30) == pytest.approx(10 * DAY, abs=60)


def test_env_sleep_fires_timers_started_by_earlier_fires_at_their_own_due_times():
    with WorkflowEnvironment(workflows=[two_naps]) as env:
        handle = env.start(two_naps, DAY)
        env.sleep(30 * DAY)
        first, second = handle.result(timeout=30)
        assert first == pytest.approx(DAY, abs=60)
        assert second == pytest.approx(2 * DAY, abs=60)


def test_without_auto_skip_only_env_sleep_moves_virtual_time():
    with WorkflowEnvironment(workflows=[sleep_for], auto_skip=False) as env:
        handle = env.start(sleep_for, 30 * DAY)
        with pytest.raises(TimeoutError):
            handle.result(timeout=0.5)
        env.sleep(30 * DAY)
        assert handle.result(timeout=30) >= 30 * DAY


def test_env_sleep_refuses_a_negative_duration():
    with WorkflowEnvironment(workflows=[sleep_for]) as env:
        with pytest.raises(aion.InvalidArgument, match="seconds >= 0"):
            env.sleep(-1)


def test_time_skipping_is_refused_on_the_local_runtime(tmp_path):
    with pytest.raises(aion.InvalidArgument, match="time skipping needs runtime='inprocess'"):
        aion.Engine(f"sqlite:///{tmp_path}/x.db", runtime="local", time_skipping=True)
    with pytest.raises(aion.InvalidArgument, match="inprocess"):
        WorkflowEnvironment(workflows=[sleep_for], runtime="local", store=f"sqlite:///{tmp_path}/y.db")


def test_the_skipping_clock_never_goes_backwards():
    clock = SkippingClock()
    start = clock.time()
    clock.skip_to(start + DAY)
    assert clock.time() >= start + DAY
    clock.skip_to(start)          # a time already passed changes nothing
    clock.advance(-DAY)
    assert clock.time() >= start + DAY
    assert clock.now().timestamp() >= start + DAY


def test_an_engine_with_time_skipping_on_a_file_store(tmp_path):
    with aion.Engine(f"sqlite:///{tmp_path}/x.db", workflows=[sleep_for], time_skipping=True) as engine:
        assert engine.start(sleep_for, 90 * DAY).result(timeout=30) >= 90 * DAY


def test_env_sleep_waits_for_a_running_activity_and_says_so_when_it_gives_up():
    with WorkflowEnvironment(workflows=[lookup_with_deadline], activities=[slow_lookup]) as env:
        handle = env.start(lookup_with_deadline, 2.0)
        wait_for(lambda: events(handle, "ActivityStarted"), "the activity attempt to start")
        with pytest.raises(TimeoutError, match="an activity attempt is still running"):
            env.sleep(DAY, timeout=0.2)
        assert "TimerFired" not in [e.type_name for e in handle.history()]   # its 10 s deadline held
        assert handle.result(timeout=30) == "looked up"


def test_the_test_kit_public_names():
    import aion_actors.testing as testing
    from aion_actors.replayer import replay

    assert testing.__all__ == ["WorkflowEnvironment", "replay"]
    assert testing.replay is replay
