"""Links and monitors (`LinkedActor`) on the in-process runtime, and "killed" on a real kill."""

from __future__ import annotations

import os
import signal

from supervisors import Down, ExitSignal

from .actors import Cfg, Linker
from .conftest import wait_for


def setup(system, trap=False):
    a = system.createActor(Linker)
    child = system.ask(a, "spawn", 5)
    if trap:
        assert system.ask(a, "trap", 5) == "ok"
    return a, child


def alive(system, actor, timeout=0.3) -> bool:
    return system.ask(actor, "alive", timeout) == "yes"


def test_abnormal_exit_propagates_over_a_link(inprocess):
    system = inprocess.system
    a, w = setup(system)
    assert system.ask(a, ("link", w), 5) == "ok"
    system.tell(w, ("exit", "boom"))
    assert not alive(system, a)


def test_normal_exit_does_not_propagate(inprocess):
    system = inprocess.system
    a, w = setup(system)
    system.ask(a, ("link", w), 5)
    system.tell(w, ("exit", "normal"))
    assert alive(system, a)
    assert system.ask(a, "got", 5) == []


def test_trap_exit_turns_signals_into_messages(inprocess):
    system = inprocess.system
    a, w = setup(system, trap=True)
    system.ask(a, ("link", w), 5)
    system.tell(w, "crash")
    assert alive(system, a)
    assert system.ask(a, "got", 5) == [ExitSignal(w, ("exception", "RuntimeError: asked to crash"))]


def test_links_are_both_ways(inprocess):
    system = inprocess.system
    a = system.createActor(Linker)
    b = system.createActor(Linker)
    system.ask(a, ("link", b), 5)
    system.tell(a, ("exit", "boom"))  # b did not call link, yet hears of it
    assert not alive(system, b)


def test_unlink(inprocess):
    system = inprocess.system
    a, w = setup(system)
    system.ask(a, ("link", w), 5)
    system.ask(a, ("unlink", w), 5)
    system.tell(w, ("exit", "boom"))
    assert alive(system, a)


def test_monitor_and_demonitor(inprocess):
    system = inprocess.system
    a = system.createActor(Linker)
    b = system.createActor(Linker)
    c = system.createActor(Linker)
    system.ask(a, ("monitor", b), 5)
    system.tell(b, ("exit", "bye"))
    got = system.ask(a, "got", 5)
    assert len(got) == 1 and isinstance(got[0], Down)
    assert got[0].actor == b and got[0].reason == "bye"
    system.ask(a, ("monitor", c), 5)
    system.ask(a, "demonitor", 5)
    system.tell(c, ("exit", "bye"))
    assert len(system.ask(a, "got", 5)) == 1  # no Down after demonitor
    assert alive(system, a)  # a monitor is not a link


def test_trapped_link_between_unrelated_actors(inprocess):
    system = inprocess.system
    a = system.createActor(Linker)
    b = system.createActor(Linker)
    system.ask(a, ("link", b), 5)
    system.ask(a, "trap", 5)
    system.tell(b, ("exit", "boom"))
    assert system.ask(a, "got", 5) == [ExitSignal(b, "boom")]


def test_a_killed_linked_child_is_reported_as_killed(local):
    system = local.system
    a, w = setup(system, trap=True)
    system.ask(a, ("link", w), 5)
    system.tell(w, Cfg(os.devnull))
    pid = system.ask(w, "pid", 5)
    os.kill(pid, signal.SIGKILL)
    got = wait_for(lambda: system.ask(a, "got", 5), timeout=10)
    assert got == [ExitSignal(w, "killed")]
