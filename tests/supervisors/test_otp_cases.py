"""Cases of OTP's supervisor_SUITE, one test each (named after the OTP case), in process.

Each checks what a user of the supervisor sees: replies to requests, which
children run, and the start/stop log the `actors.Worker` children write.
"""

from __future__ import annotations

import os

import pytest

from supervisors import (ChildCount, ChildSpec, ChildStatus, Configure, CountChildren, DeleteChild,
                         GetChildSpec, RestartChild, Shutdown, Start, StartChild, Started, Supervisor,
                         SupervisorError, SupervisorSpec, TerminateChild, Terminated, WhichChild)

from .actors import BrokenInit, Cfg, PoolSupervisor, Worker, read_log
from .conftest import children, start_supervisor, wait_for


def worker(id, log, **kw):
    cfg = {k: kw.pop(k) for k in ("fail_if", "ignore", "stall_on_shutdown") if k in kw}
    return ChildSpec(id, Start(Worker, Cfg(log, **cfg)), **kw)


def sup_child(id, spec, **kw):
    return ChildSpec(id, Start(Supervisor, Configure(spec)), type="supervisor", **kw)


def gone(system, address) -> bool:
    return system.ask(address, "pid", 0.2) is None


# -- starting a supervisor ---------------------------------------------------------------

def test_sup_start_fail(inprocess):
    """init raising answers the caller with an error, and the supervisor ends."""
    system = inprocess.system
    sup = system.createActor(BrokenInit)
    reply = system.ask(sup, "anything", 5)
    assert reply == SupervisorError("init_failed", "ValueError: no spec today")
    assert children(system, sup, timeout=0.3) is None


def test_sup_start_fail_grandchild(inprocess, log):
    """A child supervisor reports itself started only once its own children are:
    a grandchild that cannot start fails the top's start ({error, {shutdown, ...}})."""
    system = inprocess.system
    inner = SupervisorSpec(children=(worker("w1", log), ChildSpec("bad", Start(Worker, "crash")),
                                     worker("w3", log)))
    top = SupervisorSpec(children=(worker("a", log), sup_child("inner", inner), worker("z", log)))
    sup = system.createActor(Supervisor)
    reply = system.ask(sup, Configure(top), 10)
    assert reply.code == "start_failed" and reply.detail.startswith("'inner': ('start_failed'")
    assert "asked to crash" in reply.detail
    # a, then w1 started; bad failed: w1 stopped by inner, a by the top; w3 and z never started
    assert [line.split()[:2] for line in read_log(log)] == [
        ["start", "a"], ["start", "w1"], ["stop", "w1"], ["stop", "a"]]
    assert children(system, sup, timeout=0.3) is None


def test_sup_start_child_supervisor_is_ready_with_its_children(inprocess, log):
    system = inprocess.system
    inner = SupervisorSpec(children=(worker("w1", log), worker("w2", log)))
    sup = start_supervisor(system, SupervisorSpec(children=(sup_child("inner", inner),
                                                            worker("after", log))))
    # "after" starts only once inner's children have
    assert [line.split()[1] for line in read_log(log)] == ["w1", "w2", "after"]
    assert set(children(system, children(system, sup)["inner"].address)) == {"w1", "w2"}


def test_sup_start_ignore_child(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec())
    assert system.ask(sup, StartChild(worker("child1", log, ignore=True)), 5) == Started("child1", None)
    started = system.ask(sup, StartChild(worker("child2", log)), 5)
    assert started.address is not None
    kids = children(system, sup)
    assert list(kids) == ["child1", "child2"] and kids["child1"].address is None
    assert system.ask(sup, CountChildren(), 5) == ChildCount(2, 1, 0, 2)


def test_sup_start_ignore_temporary_child(inprocess, log):
    system = inprocess.system
    spec = SupervisorSpec(children=(worker("child1", log, ignore=True, restart="temporary"),
                                    worker("child2", log, restart="temporary")))
    sup = system.createActor(Supervisor)
    assert system.ask(sup, Configure(spec), 5).ids == ("child2",)  # not kept: no trace
    assert list(children(system, sup)) == ["child2"]
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 1, 0, 1)


def test_sup_start_ignore_permanent_child_at_init(inprocess, log):
    """The supervisor carries on past an ignoring child and keeps its spec, stopped."""
    system = inprocess.system
    spec = SupervisorSpec("one_for_all", intensity=3, children=(
        worker("a", log), worker("i", log, ignore=True), worker("c", log)))
    sup = start_supervisor(system, spec)
    kids = children(system, sup)
    assert kids["i"].address is None and kids["a"].address and kids["c"].address
    system.tell(kids["a"].address, "crash")  # one_for_all: "i" is tried again, and ignores again
    after = children(system, sup)
    assert after["i"].address is None and after["c"].address != kids["c"].address
    assert [line.split()[:2] for line in read_log(log)].count(["ignore", "i"]) == 2


@pytest.mark.parametrize("restart", ["temporary", "permanent"])
def test_sup_start_ignore_child_start_child_simple(inprocess, log, restart):
    """OTP's sup_start_ignore_{temporary,permanent}_child_start_child_simple."""
    system = inprocess.system
    sup = start_supervisor(system, worker("h", log, restart=restart), cls=PoolSupervisor)
    assert system.ask(sup, StartChild(message=Cfg(log, ignore=True)), 5) == Started(("h", 1), None)
    second = system.ask(sup, StartChild(message=Cfg(log)), 5)
    assert second.id == ("h", 2) and second.address is not None
    assert list(children(system, sup)) == [("h", 2)]
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 1, 0, 1)
    system.tell(sup, Shutdown())
    assert children(system, sup, timeout=0.3) is None


def test_ignore_after_start_is_a_crash(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec(intensity=2, children=(worker("a", log),)))
    first = children(system, sup)["a"]
    system.tell(first.address, "ignore")
    after = children(system, sup)["a"]
    assert after.restarts == 1 and after.address != first.address
    assert "RuntimeError: ignore() is only for the init message" in read_log(log)[1]


# -- child administration ----------------------------------------------------------------

def test_sup_start_map(inprocess, log):
    """get_childspec gives the full spec, defaults filled in (shutdown by type)."""
    system = inprocess.system
    inner = SupervisorSpec()
    sup = start_supervisor(system, SupervisorSpec(children=(
        worker("child1", log), worker("child2", log, shutdown="brutal_kill"), sup_child("child3", inner))))
    one = system.ask(sup, GetChildSpec("child1"), 5)
    assert (one.id, one.restart, one.shutdown, one.type) == ("child1", "permanent", 5.0, "worker")
    assert system.ask(sup, GetChildSpec("child2"), 5).shutdown == "brutal_kill"
    three = system.ask(sup, GetChildSpec("child3"), 5)
    assert (three.shutdown, three.type) == ("infinity", "supervisor")
    assert system.ask(sup, GetChildSpec("child4"), 5) == SupervisorError("not_found", "'child4'")


def test_extra_return(inprocess, log):
    """OTP's child administration replies: running, terminate twice, delete, restart."""
    system = inprocess.system
    sup = start_supervisor(system, SupervisorSpec(children=(worker("child1", log),)))
    for request in (TerminateChild("hej"), DeleteChild("hej"), RestartChild("hej"), WhichChild("hej")):
        assert system.ask(sup, request, 5) == SupervisorError("not_found", "'hej'")
    assert system.ask(sup, DeleteChild("child1"), 5) == SupervisorError("running", "'child1'")
    assert system.ask(sup, RestartChild("child1"), 5) == SupervisorError("running", "'child1'")
    status = system.ask(sup, WhichChild("child1"), 5)
    assert isinstance(status, ChildStatus) and status.address is not None and not status.restarting
    assert system.ask(sup, TerminateChild("child1"), 5) == Terminated("child1")
    assert system.ask(sup, TerminateChild("child1"), 5) == Terminated("child1")  # again: fine
    assert system.ask(sup, WhichChild("child1"), 5).address is None
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 0, 0, 1)
    assert system.ask(sup, DeleteChild("child1"), 5).id == "child1"
    assert system.ask(sup, RestartChild("child1"), 5) == SupervisorError("not_found", "'child1'")
    assert system.ask(sup, CountChildren(), 5) == ChildCount(0, 0, 0, 0)


def test_child_adm_simple(inprocess, log):
    system = inprocess.system
    sup = start_supervisor(system, worker("h", log), cls=PoolSupervisor)
    first = system.ask(sup, StartChild(message=Cfg(log)), 5)
    assert system.ask(sup, TerminateChild("h"), 5).code == "simple_one_for_one"
    assert system.ask(sup, GetChildSpec("h"), 5).id == "h"  # the template
    instance = system.ask(sup, GetChildSpec(first.id), 5)
    assert instance.id == ("h", 1) and instance.start.message == Cfg(log)
    assert system.ask(sup, WhichChild(first.id), 5).address == first.address
    system.tell(first.address, ("exit", "normal"))  # permanent: restarted
    assert system.ask(sup, TerminateChild(first.id), 5) == Terminated(first.id)
    assert system.ask(sup, TerminateChild(first.id), 5) == Terminated(first.id)  # ended already: ok
    assert system.ask(sup, TerminateChild(("h", 9)), 5) == SupervisorError("not_found", "('h', 9)")
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 0, 0, 0)


@pytest.mark.parametrize("type", ["worker", "supervisor"])
def test_count_children_simple_one_for_one(inprocess, log, type):
    system = inprocess.system
    if type == "worker":
        template, message = worker("h", log, restart="temporary"), Cfg(log)
    else:
        template, message = sup_child("h", SupervisorSpec(), restart="temporary"), None
    sup = start_supervisor(system, template, cls=PoolSupervisor)
    started = [system.ask(sup, StartChild(message=message), 5) for _ in range(5)]
    n_sup, n_work = (5, 0) if type == "supervisor" else (0, 5)
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 5, n_sup, n_work)
    for s in started[:2]:
        system.ask(sup, TerminateChild(s.id), 5)
    n_sup, n_work = (3, 0) if type == "supervisor" else (0, 3)
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 3, n_sup, n_work)


def test_sup_stop_shutdown_zero(inprocess, log):
    """shutdown=0: asked to stop, then forced at once."""
    system = inprocess.system
    stubborn = worker("s", log, stall_on_shutdown=True, shutdown=0)
    sup = start_supervisor(system, SupervisorSpec(children=(stubborn,)))
    assert system.ask(sup, TerminateChild("s"), 5) == Terminated("s")
    assert read_log(log)[1:] == ["stall s", "stop s 'shutdown'"]


# -- restarts ------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_tree(inprocess, log, strategy):
    """A stopped (terminated) child in scope is started again with the others; a child
    supervisor that escalates comes back without its dynamic children."""
    system = inprocess.system
    sup1 = SupervisorSpec(intensity=4, children=(worker("child1", log), worker("child2", log)))
    sup2 = SupervisorSpec(intensity=1, period=30)
    # supchild2 first, so that supchild1 is in scope for rest_for_one too
    top = start_supervisor(system, SupervisorSpec(strategy, intensity=4, period=30, children=(
        sup_child("supchild2", sup2), sup_child("supchild1", sup1))))
    assert system.ask(top, CountChildren(), 5) == ChildCount(2, 2, 2, 0)
    first = children(system, top)
    for id in ("child3", "child4"):
        assert system.ask(first["supchild2"].address, StartChild(worker(id, log)), 5).id == id
    # only the process that dies is restarted
    c4 = children(system, first["supchild2"].address)["child4"]
    system.tell(c4.address, "crash")
    assert children(system, first["supchild2"].address)["child4"].restarts == 1
    assert children(system, first["supchild1"].address) is not None

    assert system.ask(top, TerminateChild("supchild1"), 5) == Terminated("supchild1")
    c3 = children(system, first["supchild2"].address)["child3"]
    system.tell(c3.address, "crash")  # supchild2's second restart: it escalates
    after = children(system, top)
    assert all(c.address is not None for c in after.values())  # the stopped supchild1 too
    assert after["supchild2"].address != first["supchild2"].address
    assert set(children(system, after["supchild1"].address)) == {"child1", "child2"}
    assert children(system, after["supchild2"].address) == {}  # dynamic children not kept
    assert system.ask(top, CountChildren(), 5) == ChildCount(2, 2, 2, 0)


def test_one_for_all_other_child_fails_restart(inprocess, log, tmp_path):
    """A sibling that cannot start again is "restarting" and retried, not lost."""
    system = inprocess.system
    flag = str(tmp_path / "fail")
    sup = start_supervisor(system, SupervisorSpec("one_for_all", intensity=100, period=30, children=(
        worker("a", log), worker("b", log, fail_if=flag))))
    open(flag, "w").close()
    system.tell(children(system, sup)["a"].address, "crash")
    assert wait_for(lambda: children(system, sup)["b"].restarting)
    os.unlink(flag)
    kids = wait_for(lambda: (lambda k: k if all(c.address for c in k.values()) else None)(
        children(system, sup)))
    assert kids and not any(c.restarting for c in kids.values())


def test_hanging_restart_loop(inprocess, log, tmp_path):
    """A child that cannot restart is "restarting", retried; requests are served meanwhile;
    it can be terminated, restarted by hand, and the supervisor shut down."""
    system = inprocess.system
    flag = str(tmp_path / "fail")
    spec = worker("child1", log, fail_if=flag, shutdown="brutal_kill")
    sup = start_supervisor(system, SupervisorSpec(intensity=100_000, period=10))
    first = system.ask(sup, StartChild(spec), 5)
    open(flag, "w").close()
    system.tell(first.address, "crash")
    assert wait_for(lambda: children(system, sup)["child1"].restarting)

    assert system.ask(sup, StartChild(spec), 5) == SupervisorError("already_present", "'child1'")
    assert system.ask(sup, RestartChild("child1"), 5) == SupervisorError("restarting", "'child1'")
    assert system.ask(sup, DeleteChild("child1"), 5) == SupervisorError("restarting", "'child1'")
    status = system.ask(sup, WhichChild("child1"), 5)
    assert status.restarting and status.address is None
    assert system.ask(sup, CountChildren(), 5) == ChildCount(1, 0, 0, 1)

    assert system.ask(sup, TerminateChild("child1"), 5) == Terminated("child1")
    stopped = system.ask(sup, WhichChild("child1"), 5)
    assert not stopped.restarting and stopped.address is None
    assert system.ask(sup, WhichChild("child1"), 5) == stopped  # no retry was left behind

    os.unlink(flag)
    again = system.ask(sup, RestartChild("child1"), 5)
    assert isinstance(again, Started) and again.address is not None

    open(flag, "w").close()
    system.tell(again.address, "crash")
    assert wait_for(lambda: children(system, sup)["child1"].restarting)
    system.tell(sup, Shutdown())  # shut down while hanging in the restart loop
    assert wait_for(lambda: children(system, sup, timeout=0.3) is None)


def test_hanging_restart_loop_simple(inprocess, log, tmp_path):
    system = inprocess.system
    flag = str(tmp_path / "fail")
    sup = start_supervisor(system, worker("h", log), cls=PoolSupervisor)  # intensity 5 in 5 s
    first = system.ask(sup, StartChild(message=Cfg(log, fail_if=flag)), 5)
    open(flag, "w").close()
    system.tell(first.address, "crash")
    # five restarts fail, the sixth is one too many: the supervisor gives up
    assert wait_for(lambda: children(system, sup, timeout=0.3) is None)
    assert [line.split()[0] for line in read_log(log)] == ["start", "stop"]
