"""The isolated actor systems of aion_actors.runtime.system (hazards from FACTS.md)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aion_actors.errors import InvalidArgument
from aion_actors.runtime import system as system_mod
from aion_actors.runtime.procs import listening_sockets
from aion_actors.runtime.system import ActorSystemStartError, open_actor_system
from tests.runtime_actors import Echo, Parent
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_gone(pids, seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if running(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_leftovers(pids) -> None:
    for pid in pids:
        if running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_script(tmp_path: Path, body: str, **kw) -> subprocess.CompletedProcess:
    script = tmp_path / "engine.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, **kw)


@pytest.fixture
def local():
    handle = open_actor_system("local")
    try:
        yield handle
    finally:
        handle.shutdown()


def test_inprocess_system_asks_and_owns_no_process():
    handle = open_actor_system("inprocess")
    try:
        echo = handle.system.createActor(Echo)
        assert handle.system.ask(echo, "hi", 5) == "hi"
        assert handle.pids() == set()
    finally:
        handle.shutdown()
    handle.shutdown()  # idempotent
    assert handle.closed


def test_unknown_runtime_is_rejected():
    with pytest.raises(InvalidArgument, match="unknown runtime"):
        open_actor_system("cluster-of-one")


def test_every_listening_socket_of_a_local_system_is_loopback(local):
    echo = local.system.createActor(Echo)
    assert local.system.ask(echo, "hi", 10) == "hi"
    parent = local.system.createActor(Parent)
    children = local.system.ask(parent, ("spawn", 2), 10)
    actor_pids = {local.system.ask(a, "pid", 10) for a in [echo, parent, *children]}

    pids = local.pids()
    assert local.admin_pid in pids
    assert actor_pids <= pids
    assert len(pids) >= 6  # admin, logger, echo, parent, two children
    sockets = listening_sockets(pids | {os.getpid()})
    assert {pid for pid, _, _ in sockets} >= pids  # every process of the system listens
    assert (local.admin_pid, "127.0.0.1", local.admin_port) in sockets
    assert [s for s in sockets if s[1] != "127.0.0.1"] == []


def test_shutdown_ends_every_process_and_is_idempotent():
    handle = open_actor_system("local")
    parent = handle.system.createActor(Parent)
    handle.system.ask(parent, ("spawn", 2), 10)
    pids = handle.pids()
    assert len(pids) >= 5
    log_dir = handle.log_dir
    handle.shutdown()
    assert {p for p in pids if running(p)} == set()
    assert handle.pids() == set()
    assert not os.path.exists(log_dir)
    handle.shutdown()


def test_two_local_systems_are_isolated():
    first = open_actor_system("local")
    try:
        second = open_actor_system("local")
        try:
            assert first.admin_port != second.admin_port
            assert first.admin_pid != second.admin_pid
            a = first.system.createActor(Echo, globalName="singleton")
            b = second.system.createActor(Echo, globalName="singleton")
            pid_a = first.system.ask(a, "pid", 10)
            pid_b = second.system.ask(b, "pid", 10)
            assert pid_a != pid_b  # the name was not found in the other system
            assert pid_a in first.pids() and pid_a not in second.pids()
            assert pid_b in second.pids() and pid_b not in first.pids()
            assert first.pids().isdisjoint(second.pids())
        finally:
            second.shutdown()
        assert first.system.ask(a, "still here", 10) == "still here"
    finally:
        first.shutdown()


def test_never_attaches_to_a_system_already_on_the_port(local, monkeypatch):
    monkeypatch.setattr(system_mod, "_free_port", lambda: local.admin_port)
    with pytest.raises(ActorSystemStartError, match="no admin was started"):
        open_actor_system("local")
    echo = local.system.createActor(Echo)  # the system that was there is untouched
    assert local.system.ask(echo, "hi", 10) == "hi"


def test_an_admin_without_our_nonce_is_refused(local):
    assert local._ownership_problem("not-the-nonce") == (
        f"the admin on port {local.admin_port} belongs to another actor system"
    )


def test_caller_pipes_are_not_held(tmp_path):
    started = time.monotonic()
    result = run_script(tmp_path, """
        from aion_actors.runtime.system import open_actor_system
        from tests.runtime_actors import Parent
        handle = open_actor_system("local")
        parent = handle.system.createActor(Parent)
        assert len(handle.system.ask(parent, ("spawn", 2), 10)) == 2
        handle.shutdown()
        print("done")
    """, capture_output=True, timeout=60)
    print(f"\nengine script with capture_output returned in {time.monotonic() - started:.2f} s")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"done\n"
    assert result.stderr == b""


def test_system_processes_do_not_hold_the_callers_pipes(tmp_path):
    # The engine closes its stdout and lives on: its reader must see end of file
    # at once, although the engine's system is still running.
    script = tmp_path / "engine.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from aion_actors.runtime.system import open_actor_system
        from tests.runtime_actors import Parent
        handle = open_actor_system("local", log_dir={str(tmp_path / "logs")!r})
        parent = handle.system.createActor(Parent)
        handle.system.ask(parent, ("spawn", 1), 10)
        print(" ".join(map(str, handle.pids())), flush=True)
        os.close(1)
        os.close(2)
        time.sleep(60)
    """))
    engine = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    pids: set[int] = set()
    try:
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if select.select([engine.stdout], [], [], 0.2)[0]:
                chunk = os.read(engine.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        else:
            pytest.fail(f"stdout never reached end of file (read {out!r})")
        pids = {int(p) for p in out.split()}
        assert len(pids) >= 4 and all(running(p) for p in pids)
        assert engine.poll() is None
    finally:
        engine.kill()
        engine.wait()
        assert wait_gone(pids, 10) == set()
        kill_leftovers(pids)


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"], ids=["atexit", "no-atexit"])
def test_engine_exiting_without_shutdown_takes_its_system_along(tmp_path, exit_call):
    pid_file = tmp_path / "pids"
    result = run_script(tmp_path, f"""
        import os, sys
        from aion_actors.runtime.system import open_actor_system
        from tests.runtime_actors import Parent
        handle = open_actor_system("local", log_dir={str(tmp_path / "logs")!r})
        parent = handle.system.createActor(Parent)
        handle.system.ask(parent, ("spawn", 2), 10)
        open({str(pid_file)!r}, "w").write(" ".join(map(str, handle.pids())))
        {exit_call}
    """, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    pids = {int(p) for p in pid_file.read_text().split()}
    try:
        assert len(pids) >= 5
        assert wait_gone(pids, 10) == set()
    finally:
        kill_leftovers(pids)


def test_engine_sigkill_takes_its_system_along(tmp_path):
    pid_file = tmp_path / "pids"
    script = tmp_path / "engine.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from aion_actors.runtime.system import open_actor_system
        from tests.runtime_actors import Parent
        handle = open_actor_system("local", log_dir={str(tmp_path / "logs")!r})
        for _ in range(2):
            parent = handle.system.createActor(Parent)
            handle.system.ask(parent, ("spawn", 2), 10)
        with open({str(pid_file) + ".tmp"!r}, "w") as f:
            f.write(" ".join(map(str, handle.pids())))
        os.rename({str(pid_file) + ".tmp"!r}, {str(pid_file)!r})
        time.sleep(120)
    """))
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        engine = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=out, stderr=err,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
    pids: set[int] = set()
    try:
        def started() -> bool:
            assert engine.poll() is None, (tmp_path / "err").read_text()
            return pid_file.exists()

        wait_for(started, "the engine to start its system", 60, every=0.05)
        pids = {int(p) for p in pid_file.read_text().split()}
        assert len(pids) >= 8  # admin, logger, 2 parents, 4 children
        os.kill(engine.pid, signal.SIGKILL)  # that process only, not its group
        engine.wait(10)
        killed = time.monotonic()
        assert wait_gone(pids, 10) == set()
        print(f"\nall {len(pids)} system processes gone {time.monotonic() - killed:.3f} s after engine SIGKILL")
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        kill_leftovers(pids)


def test_sigkilled_child_actor_is_reported_to_its_parent(local):
    parent = local.system.createActor(Parent)
    [child] = local.system.ask(parent, ("spawn", 1), 10)
    child_pid = local.system.ask(child, "pid", 10)
    killed = time.time()
    os.kill(child_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    exits: list[float] = []
    while not exits and time.monotonic() < deadline:
        exits = local.system.ask(parent, "exits", 10)
        if not exits:
            time.sleep(0.005)
    assert len(exits) == 1
    print(f"\nChildActorExited reached the parent {1000 * (exits[0] - killed):.1f} ms after SIGKILL")
    assert child_pid not in local.pids()


def test_orphans_of_a_killed_parent_actor_still_end_at_shutdown():
    handle = open_actor_system("local")
    try:
        parent = handle.system.createActor(Parent)
        children = handle.system.ask(parent, ("spawn", 2), 10)
        child_pids = {handle.system.ask(c, "pid", 10) for c in children}
        parent_pid = handle.system.ask(parent, "pid", 10)
        os.kill(parent_pid, signal.SIGKILL)
        wait_for(lambda: not running(parent_pid), "the parent actor's process to die")
        assert all(running(p) for p in child_pids)  # Thespian leaves them running
        assert child_pids <= handle.pids()  # but they are still counted as this system's
    finally:
        handle.shutdown()
    assert wait_gone(child_pids, 1) == set()
