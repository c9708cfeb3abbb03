"""The engine's timer heap: one wake-up for the earliest deadline, O(1) disarm."""

from datetime import datetime, timezone

from aion_actors.runtime.timers import TimerWheel


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def test_due_timers_come_out_in_deadline_order_and_only_once():
    wheel = TimerWheel()
    wheel.arm("a", "t1", at(30))
    wheel.arm("b", "t1", at(10))
    wheel.arm("a", "t2", at(20))
    assert len(wheel) == 3 and wheel.next_deadline() == 10
    assert wheel.pop_due(25) == [("b", "t1"), ("a", "t2")]
    assert wheel.pop_due(25) == [] and len(wheel) == 1
    assert wheel.pop_due(30) == [("a", "t1")] and wheel.next_deadline() is None


def test_re_arming_moves_a_timer_and_disarming_forgets_it():
    wheel = TimerWheel()
    wheel.arm("a", "t", at(10))
    wheel.arm("a", "t", at(40))          # the stale heap entry is skipped
    wheel.arm("b", "t", at(20))
    wheel.disarm("b", "t")
    wheel.disarm("b", "never armed")
    assert len(wheel) == 1 and wheel.next_deadline() == 40
    assert wheel.pop_due(39) == []
    assert wheel.pop_due(40, limit=5) == [("a", "t")]


def test_disarming_a_workflow_drops_all_its_timers_only():
    wheel = TimerWheel()
    for n in range(3):
        wheel.arm("gone", f"t{n}", at(n))
    wheel.arm("kept", "t", at(5))
    wheel.disarm_workflow("gone")
    assert len(wheel) == 1
    assert wheel.pop_due(10, limit=1) == [("kept", "t")]
