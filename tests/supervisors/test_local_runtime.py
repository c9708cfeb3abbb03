"""Supervision with real processes (multiprocTCPBase on loopback): children are SIGKILLed.

A SIGKILLed child says nothing: Thespian reports ChildActorExited to the
supervisor, which counts reason "killed" (abnormal) and restarts per strategy.
"""

from __future__ import annotations

import os
import signal

import pytest

from supervisors import ChildSpec, Configure, Shutdown, Start, Supervisor, SupervisorSpec, TerminateChild, Terminated

from .actors import BrokenInit, Cfg, Worker, read_log
from .conftest import children, start_supervisor, wait_for

RESTARTED = {"one_for_one": {"b"}, "one_for_all": {"a", "b", "c"}, "rest_for_one": {"b", "c"}}


def worker(id, log, **kw):
    return ChildSpec(id, Start(Worker, Cfg(log)), **kw)


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def pids(system, sup) -> dict:
    kids = children(system, sup)
    return {} if kids is None else {id: c.pid for id, c in kids.items()}


def all_ready(system, sup, old: dict, changed: set):
    """The new pids once every child in `changed` has a new one (and the rest kept theirs)."""
    now = pids(system, sup)
    if now and all(now[i] is not None and (now[i] != old[i]) == (i in changed) for i in now):
        return now
    return None


def kill_and_check(system, sup, strategy):
    before = pids(system, sup)
    os.kill(before["b"], signal.SIGKILL)
    after = wait_for(lambda: all_ready(system, sup, before, RESTARTED[strategy]), timeout=15)
    assert after, (before, pids(system, sup))
    assert not running(before["b"])
    for id in RESTARTED[strategy] - {"b"}:
        assert not running(before[id])  # stopped siblings' processes are gone, not leaked
    return after


def test_killed_child_is_restarted_with_a_new_pid(local, log):
    system = local.system
    sup = start_supervisor(system, SupervisorSpec(children=tuple(worker(i, log) for i in "abc")))
    kill_and_check(system, sup, "one_for_one")
    assert children(system, sup)["b"].restarts == 1
    # started one after the other, in order
    assert [line.split()[:2] for line in read_log(log)[:3]] == [["start", i] for i in "abc"]


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_killed_child_restart_per_strategy(local, log, strategy):
    system = local.system
    sup = start_supervisor(system, SupervisorSpec(strategy, intensity=3,
                                                  children=tuple(worker(i, log) for i in "abc")))
    kill_and_check(system, sup, strategy)
    kids = children(system, sup)
    assert {i for i, c in kids.items() if c.restarts} == RESTARTED[strategy]
    stops = [line.split()[1] for line in read_log(log) if line.startswith("stop")]
    assert stops == [i for i in "cba" if i in RESTARTED[strategy] and i != "b"]  # b left no line


def test_repeated_kills_exceed_the_intensity(local, log):
    system = local.system
    baseline = local.pids()
    sup = start_supervisor(system, SupervisorSpec(intensity=1, period=30,
                                                  children=tuple(worker(i, log) for i in "abc")))
    first = kill_and_check(system, sup, "one_for_one")
    tree = local.pids() - baseline
    assert set(first.values()) < tree  # the workers and the supervisor itself
    os.kill(first["b"], signal.SIGKILL)  # second restart within 30 s: one too many
    assert wait_for(lambda: not (local.pids() & tree), timeout=15), local.pids() & tree
    assert children(system, sup, timeout=0.5) is None
    stops = [line.split()[1] for line in read_log(log) if line.startswith("stop")]
    assert stops == ["c", "a"]  # the survivors, in reverse start order


def test_brutal_kill_sigkills_the_process(local, log):
    system = local.system
    spec = SupervisorSpec(children=(worker("a", log), worker("k", log, shutdown="brutal_kill")))
    sup = start_supervisor(system, spec)
    pid = pids(system, sup)["k"]
    assert system.ask(sup, TerminateChild("k"), 10) == Terminated("k")
    assert wait_for(lambda: not running(pid), timeout=5)
    assert not any(line.startswith("stop k") for line in read_log(log))  # no goodbye: killed


def test_shutdown_timeout_then_sigkill(local, log):
    system = local.system
    stubborn = ChildSpec("s", Start(Worker, Cfg(log, stall_on_shutdown=True)), shutdown=0.5)
    sup = start_supervisor(system, SupervisorSpec(children=(worker("a", log), stubborn)))
    pid = pids(system, sup)["s"]
    assert system.ask(sup, TerminateChild("s"), 10) == Terminated("s")
    assert not running(pid)
    assert [line for line in read_log(log) if " s" in line] == [f"start s {pid}", "stall s"]


def test_escalation_to_a_parent_with_real_kills(local, log):
    system = local.system
    inner = SupervisorSpec(intensity=0, children=(worker("w1", log), worker("w2", log)))
    outer = SupervisorSpec(intensity=3, period=30, children=(
        worker("other", log),
        ChildSpec("inner", Start(Supervisor, Configure(inner)), type="supervisor", shutdown="infinity")))
    top = start_supervisor(system, outer)
    first = children(system, top)
    inner_pids = pids(system, first["inner"].address)
    os.kill(inner_pids["w1"], signal.SIGKILL)  # intensity 0: inner escalates at once

    def new_inner():
        now = children(system, top)
        return now if now["inner"].restarts == 1 and now["inner"].pid else None
    second = wait_for(new_inner, timeout=15)
    assert second and second["inner"].pid != first["inner"].pid
    assert not running(first["inner"].pid) and not running(inner_pids["w2"])
    assert second["other"].pid == first["other"].pid
    fresh = wait_for(lambda: all(pids(system, second["inner"].address).values()), timeout=10)
    assert fresh


def test_shutdown_leaves_no_process(local, log):
    system = local.system
    baseline = local.pids()
    sup = start_supervisor(system, SupervisorSpec(children=tuple(worker(i, log) for i in "abc")))
    system.tell(sup, Shutdown())
    assert wait_for(lambda: local.pids() == baseline, timeout=15)
    assert [line.split()[:2] for line in read_log(log)] == \
        [["start", i] for i in "abc"] + [["stop", i] for i in "cba"]


def test_sup_start_fail_with_processes(local, log):
    """init raising, and a grandchild that cannot start, both answer the caller with an
    error; nothing of the failed trees is left running."""
    system = local.system
    baseline = local.pids()
    assert system.ask(system.createActor(BrokenInit), "go", 10).code == "init_failed"
    inner = SupervisorSpec(children=(worker("w1", log), ChildSpec("bad", Start(Worker, "crash"))))
    top = SupervisorSpec(children=(worker("a", log), ChildSpec("inner", Start(Supervisor, Configure(inner)),
                                                              type="supervisor")))
    reply = system.ask(system.createActor(Supervisor), Configure(top), 20)
    assert reply.code == "start_failed" and reply.detail.startswith("'inner': ('start_failed'")
    assert wait_for(lambda: local.pids() == baseline, timeout=15), local.pids() - baseline
    assert [line.split()[:2] for line in read_log(log)] == [
        ["start", "a"], ["start", "w1"], ["stop", "w1"], ["stop", "a"]]


def test_simultaneous_kills_are_all_noticed(local, log):
    """Three children SIGKILLed at the same moment, six rounds: all three restarted each time.

    Thespian drops some of the ChildActorExited notices when children die
    together; the supervisor's own liveness watch must find the rest.
    """
    system = local.system
    baseline = local.pids()
    sup = start_supervisor(system, SupervisorSpec(intensity=100, period=60,
                                                  children=tuple(worker(i, log) for i in "abc")))
    for _ in range(6):
        before = pids(system, sup)
        for pid in before.values():
            os.kill(pid, signal.SIGKILL)
        after = wait_for(lambda: all_ready(system, sup, before, set("abc")), timeout=15)
        assert after, (before, pids(system, sup))
        assert not any(running(p) for p in before.values())
    assert {c.restarts for c in children(system, sup).values()} == {6}
    assert len(local.pids() - baseline) == 4  # the supervisor and its three workers, no more
    system.tell(sup, Shutdown())
    assert wait_for(lambda: local.pids() == baseline, timeout=15)


@pytest.mark.slow
def test_kill_storm_within_the_intensity(local, log):
    """20 kills of random children of a one_for_all tree: always fully restarted, nothing leaks."""
    import random

    system = local.system
    baseline = local.pids()
    sup = start_supervisor(system, SupervisorSpec("one_for_all", intensity=100, period=60,
                                                  children=tuple(worker(i, log) for i in "abcd")))
    rng = random.Random(7)
    for _ in range(20):
        before = pids(system, sup)
        os.kill(before[rng.choice("abcd")], signal.SIGKILL)
        after = wait_for(lambda: all_ready(system, sup, before, set("abcd")), timeout=15)
        assert after, (before, pids(system, sup))
        assert not any(running(p) for p in before.values())
    assert len(local.pids() - baseline) == 5  # the supervisor and its four workers, no more
    system.tell(sup, Shutdown())
    assert wait_for(lambda: local.pids() == baseline, timeout=15)


def test_killed_supervisor_children_do_not_linger(local, log):
    """SIGKILL a child supervisor: its workers notice they are orphans and exit; a new subtree starts."""
    system = local.system
    inner = SupervisorSpec(children=(worker("w1", log), worker("w2", log)))
    outer = SupervisorSpec(intensity=3, children=(
        ChildSpec("inner", Start(Supervisor, Configure(inner)), type="supervisor", shutdown="infinity"),))
    top = start_supervisor(system, outer)
    first = children(system, top)["inner"]
    old_workers = pids(system, first.address)
    os.kill(first.pid, signal.SIGKILL)
    assert wait_for(lambda: not any(running(p) for p in old_workers.values()), timeout=10)

    def new_subtree():
        now = children(system, top)["inner"]
        return now.pid and now.pid != first.pid and all(pids(system, now.address).values())
    assert wait_for(new_subtree, timeout=15)
    assert sum(1 for line in read_log(log) if line.startswith("stop")) == 2  # both "orphaned"
    assert all("'orphaned'" in line for line in read_log(log) if line.startswith("stop"))
