"""`PidWatch`: the death of a real process is seen, whether or not anyone reaped it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from supervisors._liveness import PidWatch

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
