"""Supervisor behaviour on the in-process runtime (simpleSystemBase): the OTP test matrix.

Children are `actors.Worker`s that log ``start <id> <pid>`` / ``stop <id>
<reason>`` to a file, so order is checked from the log.
"""

from __future__ import annotations

import pytest

from supervisors import (ChildCount, ChildSpec, Configure, CountChildren, DeleteChild,
                         Deleted, RestartChild, Shutdown, Start, StartChild, Started, Supervisor,
                         SupervisorError, SupervisorSpec, TerminateChild, Terminated)
from supervisors._decisions import should_restart

from .actors import Cfg, PoolSupervisor, Worker, read_log
from .conftest import children, start_supervisor

EXITS = {  # how a child is made to exit -> the reason the supervisor sees
    "normal": (("exit", "normal"), "normal"),
    "shutdown": (("exit", "shutdown"), "shutdown"),
    "abnormal": ("crash", ("exception", "RuntimeError: asked to crash")),
}
RESTARTED = {  # strategy -> which of a, x, c restart when x fails
    "one_for_one": {"x"},
    "one_for_all": {"a", "x", "c"},
    "rest_for_one": {"x", "c"},
}


def worker(id, log, **kw):
    return ChildSpec(id, Start(Worker, Cfg(log)), **kw)


def gone(system, address) -> bool:
    return system.ask(address, "pid", 0.2) is None


@pytest.mark.parametrize("strategy", sorted(RESTARTED))
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("exit_kind", sorted(EXITS))
def test_exit_matrix(inprocess, log, strategy, restart, exit_kind):
    system = inprocess.system
    spec = SupervisorSpec(strategy, intensity=5, period=5, children=(
        worker("a", log), worker("x", log, restart=restart), worker("c", log)))
    sup = start_supervisor(system, spec)
    before = children(system, sup)
    request, reason = EXITS[exit_kind]
    system.tell(before["x"].address, request)
    after = children(system, sup)

    if should_restart(restart, reason):
        expected = RESTARTED[strategy]
        for id in "axc":
            assert after[id].restarts == (1 if id in expected else 0), id
            assert (after[id].address != before[id].address) == (id in expected), id
            assert after[id].address is not None
        lines = read_log(log)[3:]
        stops = [line.split()[1] for line in lines if line.startswith("stop")]
        starts = [line.split()[1] for line in lines if line.startswith("start")]
        assert stops[0] == "x"  # the failed one ended first, then siblings in reverse start order
        assert stops[1:] == [id for id in "cxa" if id in expected and id != "x"]
        assert starts == [id for id in "axc" if id in expected]  # start order
        assert all(line.startswith("stop") for line in lines[:len(stops)])  # all stops, then starts
    else:
        assert after["a"].address == before["a"].address
        assert after["c"].address == before["c"].address
        if restart == "temporary":
            assert "x" not in after  # a temporary child is forgotten
        else:
            assert after["x"].address is None and after["x"].restarts == 0
        assert read_log(log)[3:] == [f"stop x {reason!r}"]


@pytest.mark.parametrize("strategy", sorted(RESTARTED))
def test_escalation_stops_everything_in_reverse_order(inprocess, log, strategy):
    system = inprocess.system
    spec = SupervisorSpec(strategy, intensity=1, period=30,
                          children=tuple(worker(id, log) for id in "abc"))
    sup = start_supervisor(system, spec)
    system.tell(children(system, sup)["b"].address, "crash")  # restart 1: within intensity
    kids = children(system, sup)
    assert kids["b"].restarts == 1
    system.tell(kids["b"].address, "crash")  # restart 2: one too many
    assert children(system, sup, timeout=0.3) is None  # the supervisor is gone
    lines = read_log(log)
    assert [line.split()[1] for line in lines[-2:]] == ["c", "a"]  # b crashed, then c, a
    assert all(gone(system, kid.address) for kid in kids.values())


def test_temporary_siblings_are_not_restarted(inprocess, log):
    system = inprocess.system
    spec = SupervisorSpec("one_for_all", intensity=5, children=(
        worker("a", log), worker("t", log, restart="temporary"), worker("c", log)))
    sup = start_supervisor(system, spec)
    system.tell(children(system, sup)["a"].address, "crash")
    after = children(system, sup)
    assert sorted(after) == ["a", "c"]
    assert [line.split()[:2] for line in read_log(log)[3:]] == [
        ["stop", "a"], ["stop", "c"], ["stop", "t"], ["start", "a"], ["start", "c"]]


def test_escalation_to_a_parent_supervisor(inprocess, log):
    system = inprocess.system
    inner = SupervisorSpec("one_for_one", intensity=1, period=30,
                           children=(worker("w1", log), worker("w2", log)))
    outer = SupervisorSpec("one_for_one", intensity=3, period=30, children=(
        worker("other", log),
        ChildSpec("inner", Start(Supervisor, Configure(inner)), type="supervisor",
                  shutdown="infinity")))
    top = start_supervisor(system, outer)
    first = children(system, top)
    w = children(system, first["inner"].address)
    system.tell(w["w1"].address, "crash")
    system.tell(children(system, first["inner"].address)["w1"].address, "crash")  # escalates
    second = children(system, top)
    assert second["inner"].restarts == 1 and second["inner"].address != first["inner"].address
    assert second["other"].address == first["other"].address  # one_for_one at the top
    assert gone(system, first["inner"].address)
    fresh = children(system, second["inner"].address)
    assert set(fresh) == {"w1", "w2"} and all(c.restarts == 0 for c in fresh.values())
    ids = [line.split()[:2] for line in read_log(log)]
    # w1 crashes, is restarted, crashes again: inner stops w2, exits; outer starts a new inner
    assert ids[3:] == [["stop", "w1"], ["start", "w1"], ["stop", "w1"], ["stop", "w2"],
                       ["start", "w1"], ["start", "w2"]]


def test_escalation_chain_up_to_the_top(inprocess, log):
    system = inprocess.system
    inner = SupervisorSpec(intensity=0, children=(worker("w", log),))
    outer = SupervisorSpec(intensity=0, children=(
        ChildSpec("inner", Start(Supervisor, Configure(inner)), type="supervisor",
                  shutdown="infinity"),))
    top = start_supervisor(system, outer)
    inner_sup = children(system, top)["inner"].address
    system.tell(children(system, inner_sup)["w"].address, "crash")
    assert children(system, top, timeout=0.3) is None
    assert gone(system, inner_sup)


def test_shutdown_stops_children_in_reverse_order(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec(children=tuple(worker(i, log) for i in "abcd")))
    system.tell(sup, Shutdown())
    assert children(system, sup, timeout=0.3) is None
    assert [line.split()[:2] for line in read_log(log)] == \
        [["start", i] for i in "abcd"] + [["stop", i] for i in "dcba"]
    assert all(line.endswith("'shutdown'") for line in read_log(log)[4:])


def test_shutdown_timeout_then_force(inprocess, log):
    system = inprocess.system
    stubborn = ChildSpec("s", Start(Worker, Cfg(log, stall_on_shutdown=True)), shutdown=0.3)
    sup = start_supervisor(system, SupervisorSpec(children=(worker("a", log), stubborn)))
    assert system.ask(sup, TerminateChild("s"), 5) == Terminated("s")
    assert read_log(log)[2:] == ["stall s", "stop s 'shutdown'"]  # asked, ignored, forced
    assert children(system, sup)["s"].address is None


def test_brutal_kill_does_not_ask(inprocess, log):
    system = inprocess.system
    spec = SupervisorSpec(children=(ChildSpec("s", Start(Worker, Cfg(log, stall_on_shutdown=True)),
                                              shutdown="brutal_kill"),))
    sup = start_supervisor(system, spec)
    assert system.ask(sup, TerminateChild("s"), 5) == Terminated("s")
    assert read_log(log)[1:] == ["stop s 'shutdown'"]  # no "stall": no Shutdown was sent


def test_dynamic_children(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec(children=(worker("a", log),)))
    started = system.ask(sup, StartChild(worker("b", log)), 5)
    assert isinstance(started, Started) and started.id == "b"
    assert system.ask(started.address, "id", 5) == "b"
    assert system.ask(sup, StartChild(worker("b", log)), 5) == SupervisorError("already_started", "'b'")
    assert system.ask(sup, CountChildren(), 5) == ChildCount(2, 2, 0, 2)
    assert system.ask(sup, DeleteChild("b"), 5) == SupervisorError("running", "'b'")
    assert system.ask(sup, TerminateChild("b"), 5) == Terminated("b")
    assert system.ask(sup, CountChildren(), 5) == ChildCount(2, 1, 0, 2)
    assert system.ask(sup, StartChild(worker("b", log)), 5) == SupervisorError("already_present", "'b'")
    again = system.ask(sup, RestartChild("b"), 5)
    assert isinstance(again, Started) and again.address != started.address
    assert system.ask(sup, RestartChild("b"), 5) == SupervisorError("running", "'b'")  # as OTP
    assert system.ask(sup, TerminateChild("b"), 5) == Terminated("b")
    assert system.ask(sup, DeleteChild("b"), 5) == Deleted("b")
    assert list(children(system, sup)) == ["a"]
    for request in (TerminateChild("zz"), RestartChild("zz"), DeleteChild("zz")):
        assert system.ask(sup, request, 5) == SupervisorError("not_found", "'zz'")
    bad = system.ask(sup, StartChild(worker("c", log, restart="often")), 5)
    assert bad.code == "invalid_spec" and bad.detail.startswith("spec.restart:")
    assert [line.split()[:2] for line in read_log(log)] == [
        ["start", "a"], ["start", "b"], ["stop", "b"], ["start", "b"], ["stop", "b"]]


def test_dynamic_temporary_child_is_forgotten_when_terminated(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec())
    system.ask(sup, StartChild(worker("t", log, restart="temporary")), 5)
    assert system.ask(sup, TerminateChild("t"), 5) == Terminated("t")
    assert children(system, sup) == {}


def test_dynamic_children_are_supervised(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec("rest_for_one", intensity=3,
                                                  children=(worker("a", log),)))
    system.ask(sup, StartChild(worker("b", log)), 5)
    system.tell(children(system, sup)["a"].address, "crash")
    kids = children(system, sup)
    assert kids["a"].restarts == 1 and kids["b"].restarts == 1


def test_simple_one_for_one(inprocess, log):
    system = inprocess.system
    template = worker("h", log, restart="transient")
    sup = start_supervisor(system, template, cls=PoolSupervisor)  # init() builds the spec
    assert children(system, sup) == {}
    ids = [system.ask(sup, StartChild(message=Cfg(log)), 5).id for _ in range(3)]
    assert ids == [("h", 1), ("h", 2), ("h", 3)]
    kids = children(system, sup)
    system.tell(kids[("h", 2)].address, "crash")  # abnormal: restarted
    system.tell(kids[("h", 3)].address, ("exit", "normal"))  # normal: forgotten
    after = children(system, sup)
    assert sorted(after) == [("h", 1), ("h", 2)] and after[("h", 2)].restarts == 1
    assert system.ask(sup, TerminateChild(("h", 1)), 5) == Terminated(("h", 1))
    assert list(children(system, sup)) == [("h", 2)]
    assert system.ask(sup, RestartChild(("h", 2)), 5).code == "simple_one_for_one"
    assert system.ask(sup, StartChild(template), 5).code == "simple_one_for_one"
    system.tell(sup, Shutdown())
    assert children(system, sup, timeout=0.3) is None


def test_invalid_spec_is_refused_and_the_supervisor_exits(inprocess):
    system = inprocess.system
    sup = system.createActor(Supervisor)
    reply = system.ask(sup, Configure(SupervisorSpec(strategy="one_for_most")), 5)
    assert reply.code == "invalid_spec" and reply.detail.startswith("strategy:")
    assert children(system, sup, timeout=0.3) is None


def test_requests_before_configure_are_refused(inprocess):
    system = inprocess.system
    sup = system.createActor(Supervisor)
    assert system.ask(sup, CountChildren(), 5) == SupervisorError("not_configured")


@pytest.mark.parametrize("auto", ["any_significant", "all_significant"])
def test_auto_shutdown(inprocess, log, auto):
    system = inprocess.system
    spec = SupervisorSpec(auto_shutdown=auto, intensity=5, children=(
        worker("plain", log),
        worker("s1", log, restart="transient", significant=True),
        worker("s2", log, restart="temporary", significant=True)))
    sup = start_supervisor(system, spec)
    kids = children(system, sup)
    system.tell(kids["s1"].address, "crash")  # abnormal: restarted, no shutdown
    assert children(system, sup)["s1"].restarts == 1
    system.tell(children(system, sup)["s1"].address, ("exit", "normal"))
    if auto == "any_significant":
        assert children(system, sup, timeout=0.3) is None
    else:
        assert children(system, sup)["s1"].address is None  # s2 still runs: carry on
        system.tell(kids["s2"].address, ("exit", "shutdown"))
        assert children(system, sup, timeout=0.3) is None
    assert read_log(log)[-1] == "stop plain 'shutdown'"


def test_terminating_a_significant_child_does_not_auto_shutdown(inprocess, log):
    system = inprocess.system
    spec = SupervisorSpec(auto_shutdown="any_significant", children=(
        worker("a", log), worker("s", log, restart="transient", significant=True)))
    sup = start_supervisor(system, spec)
    assert system.ask(sup, TerminateChild("s"), 5) == Terminated("s")
    assert children(system, sup)["a"].address is not None


def test_init_failure_fails_the_start(inprocess, log):
    system = inprocess.system
    spec = SupervisorSpec(children=(worker("a", log), ChildSpec("bad", Start(Worker, "crash")),
                                    worker("c", log)))
    sup = system.createActor(Supervisor)
    reply = system.ask(sup, Configure(spec), 5)
    assert reply.code == "start_failed" and reply.detail.startswith("'bad'")
    assert [line.split()[:2] for line in read_log(log)] == [["start", "a"], ["stop", "a"]]
    assert children(system, sup, timeout=0.3) is None  # "c" was never started


def test_dynamic_child_whose_init_crashes_is_refused(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec(intensity=2, children=(worker("a", log),)))
    reply = system.ask(sup, StartChild(ChildSpec("bad", Start(Worker, "crash"))), 5)
    assert reply.code == "start_failed" and "asked to crash" in reply.detail
    assert list(children(system, sup)) == ["a"]
