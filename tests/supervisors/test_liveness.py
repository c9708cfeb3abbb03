"""`PidWatch`: the death of a real process is seen, whether or not anyone reaped it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from supervisors._liveness import DeathWatch, PidWatch

from .conftest import wait_for


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_killed_processes_are_reported_once_each():
    procs = [sleeper() for _ in range(3)]
    watch = PidWatch()
    try:
        for i, proc in enumerate(procs):
            watch.add(f"child-{i}", proc.pid)
        assert watch.dead() == []
        for proc in procs[:2]:  # two at the same moment; left unreaped (zombies)
            os.kill(proc.pid, signal.SIGKILL)
        seen: list = []
        assert wait_for(lambda: seen.extend(watch.dead()) or len(seen) == 2, timeout=5)
        assert sorted(seen) == ["child-0", "child-1"] and len(watch) == 1
        procs[2].kill()
        procs[2].wait()  # reaped before the check: still reported
        assert wait_for(lambda: watch.dead() == ["child-2"], timeout=5)
        assert len(watch) == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        watch.close()


def test_a_process_gone_before_it_is_watched_is_dead():
    proc = sleeper()
    proc.kill()
    proc.wait()
    watch = PidWatch()
    watch.add("late", proc.pid)
    assert watch.dead() == ["late"]


def test_discard_stops_watching():
    proc = sleeper()
    watch = PidWatch()
    try:
        watch.add("a", proc.pid)
        assert watch.discard("a") and not watch.discard("a")
        proc.kill()
        proc.wait()
        assert watch.dead() == []
    finally:
        proc.kill()
        proc.wait()


def test_each_death_is_delivered_once_whoever_tells_first():
    """DeathWatch: the sweep's own notice and Thespian's late one make one delivery."""
    procs = [sleeper() for _ in range(2)]
    deaths = DeathWatch()
    try:
        assert deaths.add("a", procs[0].pid) is True  # first child: arm a sweep
        assert deaths.add("b", procs[1].pid) is False  # already armed
        for proc in procs:
            proc.kill()
            proc.wait()
        dead, again = deaths.sweep()
        assert sorted(dead) == ["a", "b"] and again is False  # nothing left to watch
        assert deaths.first_notice("a") and not deaths.first_notice("a")  # ours, then Thespian's
        assert deaths.first_notice("b") and not deaths.first_notice("b")
        assert deaths.first_notice("never-watched") and deaths.first_notice("never-watched")
    finally:
        deaths.pids.close()
