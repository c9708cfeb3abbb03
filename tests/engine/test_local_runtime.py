"""The multi-process runtime: loopback only, crashes detected, nothing outlives the engine."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.runtime.procs import listening_sockets
from aion_actors import Residency
from tests.engine.conftest import record_effect
from tests.waiting import wait_for


@activity.defn
def pid_then_block(seconds: float) -> int:
    attempt = activity.info().attempt
    record_effect(f"attempt {attempt} pid {os.getpid()}")
    if attempt == 1:
        time.sleep(seconds)
    return attempt


@workflow.defn
async def blocker(seconds: float) -> int:
    return await workflow.execute_activity(pid_then_block, seconds)


@workflow.defn
async def waiter() -> str:
    await workflow.receive("go")
    return "went"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.fixture
def local_engine(store_url):
    engines = []

    def make(**kwargs):
        engine = aion.Engine(store=store_url, runtime="local", workflows=[blocker, waiter],
                             activities=[pid_then_block], **kwargs).open()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def test_every_process_listens_on_loopback_only_and_none_outlives_the_engine(local_engine):
    engine = local_engine()
    handle = engine.start(waiter, id="w")
    assert engine.residency("w") is Residency.RESIDENT
    pids = engine._runtime.system_handle.pids()
    assert len(pids) >= 4  # admin, logger, writer, engine actor, and the run's Recorder and actor
    sockets = listening_sockets(pids)
    assert sockets and {ip for _, ip, _ in sockets} == {"127.0.0.1"}
    handle.signal("go")
    assert handle.result(timeout=15) == "went"
    engine.close()
    wait_for(lambda: not any(alive(pid) for pid in pids), "every engine process to exit")


def test_a_killed_activity_process_is_retried(local_engine, effects):
    engine = local_engine()
    handle = engine.start(blocker, 60, id="b")
    wait_for(lambda: effects.all(), "the activity to run")
    pid = int(effects.all()[0].split()[-1])
    os.kill(pid, signal.SIGKILL)
    assert handle.result(timeout=15) == 2   # a base that never reported the dead child would hang here
    failed = [e for e in handle.history() if e.type_name == "ActivityFailed"]
    assert failed[0].event.failure.type == "ActivityWorkerDied"
    assert [e.event.attempt for e in handle.history() if e.type_name == "ActivityStarted"] == [1, 2]


def test_two_engines_do_not_share_a_system(tmp_path):
    first = aion.Engine(store=f"sqlite:///{tmp_path}/a.db", runtime="local", workflows=[waiter]).open()
    second = aion.Engine(store=f"sqlite:///{tmp_path}/b.db", runtime="local", workflows=[waiter]).open()
    try:
        assert first._runtime.system_handle.admin_port != second._runtime.system_handle.admin_port
        assert not first._runtime.system_handle.pids() & second._runtime.system_handle.pids()
        first.start(waiter, id="only-in-a")
        with pytest.raises(aion.WorkflowNotFound):
            second.get_handle("only-in-a")
    finally:
        first.close()
        second.close()


def test_processes_exit_when_the_engine_is_sigkilled(tmp_path):
    pids_file = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        import aion_actors as aion
        from tests.engine.test_local_runtime import waiter
        engine = aion.Engine(store="sqlite:///{tmp_path}/k.db", runtime="local", workflows=[waiter]).open()
        try:  # answered by the run's own process: every actor of this run is up
            engine.start(waiter, id="k").query("up")
        except aion.UnknownQuery:
            pass
        open({str(pids_file)!r}, "w").write(" ".join(map(str, engine._runtime.system_handle.pids())))
        time.sleep(600)
    """)
    with open(tmp_path / "out.log", "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=out, start_new_session=True)
    try:
        wait_for(lambda: pids_file.exists() and pids_file.read_text(), "the engine to write its pids")
        pids = [int(p) for p in pids_file.read_text().split()]
        assert pids
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in pids), "every engine process to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@workflow.defn
async def pid_reporter() -> str:
    workflow.set_query_handler("pid", os.getpid)  # the run actor's process (tests only: not deterministic)
    await workflow.receive("go")
    return "went"


def test_a_killed_workflow_process_is_rebuilt_by_replay(store_url):
    with aion.Engine(store=store_url, runtime="local", workflows=[pid_reporter]) as engine:
        handle = engine.start(pid_reporter, id="r")
        first = handle.query("pid")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not alive(first), "the killed process to be gone")
        second = None

        def rebuilt():
            nonlocal second
            try:
                second = handle.query("pid", timeout=1)
            except (aion.QueryTimeout, aion.NotRunning):
                return False
            return second != first

        wait_for(rebuilt, "the run to be rebuilt in a new process")
        handle.signal("go")
        assert handle.result(timeout=15) == "went"
        assert [e.type_name for e in handle.history()].count("WorkflowStarted") == 1


def test_a_crash_loop_parks_the_run_and_resume_tries_again(store_url):
    with aion.Engine(store=store_url, runtime="local", workflows=[pid_reporter, waiter]) as engine:
        handle = engine.start(pid_reporter, id="loop")
        other = engine.start(waiter, id="bystander")
        for _ in range(4):  # the Recorder rebuilds the run 3 times, then parks it
            wait_for(lambda: _pid(handle) is not None, "the run's process to report its pid")
            pid = _pid(handle)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not alive(pid), "the killed process to be gone")
        wait_for(lambda: handle.describe().status is aion.WorkflowStatus.PAUSED, "the crash-looping run to be parked")
        assert "crashed" in handle.describe().paused_reason
        other.signal("go")
        assert other.result(timeout=15) == "went"    # the engine kept serving the others
        handle.resume()
        wait_for(lambda: _pid(handle) is not None, "the run's process to report its pid")
        handle.signal("go")
        assert handle.result(timeout=15) == "went"


def _pid(handle):
    try:
        return handle.query("pid", timeout=1)
    except (aion.QueryTimeout, aion.NotRunning):
        return None
