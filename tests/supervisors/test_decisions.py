"""The restart rules as OTP's matrix, without actors: exit reason × restart type × strategy."""

from __future__ import annotations

import pytest

from supervisors import ChildSpec, Start, Supervisor
from supervisors._decisions import (RestartIntensity, is_normal, should_auto_shutdown, should_restart,
                                    to_restart)

NORMAL_REASONS = ["normal", "shutdown", ("shutdown", "bye")]
ABNORMAL_REASONS = ["killed", ("exception", "RuntimeError: x"), "reached_max_restart_intensity",
                    ("shutdown",), ("normal", "x"), None]
STRATEGIES = ["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]


@pytest.mark.parametrize("reason", NORMAL_REASONS)
def test_normal_reasons(reason):
    assert is_normal(reason)


@pytest.mark.parametrize("reason", ABNORMAL_REASONS)
def test_abnormal_reasons(reason):
    assert not is_normal(reason)


@pytest.mark.parametrize("reason", NORMAL_REASONS + ABNORMAL_REASONS)
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
def test_should_restart_matrix(restart, reason):
    expected = {"permanent": True, "transient": not is_normal(reason), "temporary": False}[restart]
    assert should_restart(restart, reason) is expected


def test_should_restart_rejects_unknown_type():
    with pytest.raises(ValueError):
        should_restart("sometimes", "killed")


def kids(*pairs):
    return [ChildSpec(i, Start(Supervisor), restart=r) for i, r in pairs]


CHILDREN = kids(("a", "permanent"), ("b", "temporary"), ("c", "transient"), ("d", "permanent"))

# failed id -> strategy -> (stop ids in reverse start order, restart ids in start order)
EXPECTED = {
    "a": {"one_for_one": ((), ("a",)),
          "one_for_all": (("d", "c", "b"), ("a", "c", "d")),
          "rest_for_one": (("d", "c", "b"), ("a", "c", "d"))},
    "c": {"one_for_one": ((), ("c",)),
          "one_for_all": (("d", "b", "a"), ("a", "c", "d")),
          "rest_for_one": (("d",), ("c", "d"))},
    "d": {"one_for_one": ((), ("d",)),
          "one_for_all": (("c", "b", "a"), ("a", "c", "d")),
          "rest_for_one": ((), ("d",))},
}


@pytest.mark.parametrize("failed", sorted(EXPECTED))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_to_restart_per_strategy(strategy, failed):
    table = EXPECTED[failed]
    expected = table["one_for_one" if strategy == "simple_one_for_one" else strategy]
    assert to_restart(strategy, CHILDREN, failed) == expected


def test_temporary_siblings_are_stopped_but_not_restarted():
    stop, restart = to_restart("one_for_all", CHILDREN, "a")
    assert "b" in stop and "b" not in restart


def test_to_restart_errors():
    with pytest.raises(ValueError, match="strategy"):
        to_restart("one_for_some", CHILDREN, "a")
    with pytest.raises(ValueError, match="not among"):
        to_restart("one_for_one", CHILDREN, "zz")


def test_intensity_sliding_window():
    window = RestartIntensity(intensity=2, period=10)
    assert window.record(0.0) and window.record(1.0)
    assert not window.record(2.0)  # third within 10 s: exceeded
    fresh = RestartIntensity(intensity=2, period=10)
    assert fresh.record(0.0) and fresh.record(5.0)
    assert fresh.record(10.5)  # the one at 0.0 slid out of the window
    assert not fresh.record(11.0)  # 5.0, 10.5, 11.0: three within 10 s
    assert fresh.recent == 3


def test_intensity_boundary_is_exclusive():
    window = RestartIntensity(intensity=1, period=5)
    assert window.record(0.0)
    assert window.record(5.0)  # exactly `period` later: the first one has left the window


def test_intensity_zero_means_no_restart():
    assert not RestartIntensity(0, 5).record(0.0)


def test_escalation_after_many_spread_restarts_only_when_dense():
    window = RestartIntensity(intensity=3, period=1)
    assert all(window.record(t * 0.5) for t in range(100))  # two per second: never more than 3 in 1 s
    assert not (window.record(50.0) and window.record(50.01) and window.record(50.02))


@pytest.mark.parametrize("auto,significant,still_running,expected", [
    ("never", True, [], False),
    ("any_significant", False, [], False),
    ("any_significant", True, ["x"], True),
    ("all_significant", True, ["x"], False),
    ("all_significant", True, [], True),
    ("all_significant", False, [], False),
])
def test_auto_shutdown(auto, significant, still_running, expected):
    assert should_auto_shutdown(auto, significant, still_running) is expected
