"""`aion` in real processes: a worker serves, other `aion` processes command and watch it, on one SQLite file."""

from __future__ import annotations

import json
import signal
import textwrap
import time

import aion_actors as aion_engine
from stores.url import open_store
from tests.cli import shop
from tests.cli.conftest import SHOP


def _query_until(aion_cli, workflow_id: str, name: str, wanted: object, tries: int = 100) -> None:
    """The live state moves on after the event that caused it is recorded: ask until it has."""
    for _ in range(tries):
        if aion_cli.json("query", workflow_id, name)["result"] == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"query {name} never answered {wanted!r}")


def test_start_query_signal_watch_and_result_go_through_the_worker(aion):
    aion.worker()
    started = aion("start", "order", "--input", '{"items": 12}', "--id", "o-1")
    assert (started.returncode, started.stdout.strip()) == (0, "o-1"), started.stderr
    watcher = aion.spawn("watch", "o-1", "--json")
    # Query arguments are JSON when they parse, strings otherwise.
    assert aion.json("query", "o-1", "echo", "3", "x", '{"a": 1}')["result"] == [3, "x", {"a": 1}]
    _query_until(aion, "o-1", "status", {"stage": "waiting for approval"})
    signalled = aion("signal", "o-1", "approve", "--payload", '{"by": "alice"}')
    assert signalled.returncode == 0, signalled.stderr
    result = aion("result", "o-1", "--wait", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"packed": 12, "approved_by": "alice"}
    # `watch` ended by itself when the run ended, having shown every event once, in order.
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    watched = [json.loads(line) for line in out.splitlines()]
    recorded = aion.json("history", "o-1")
    assert [e["seq"] for e in watched] == [e["seq"] for e in recorded] == list(range(1, len(recorded) + 1))
    types = [e["type"] for e in watched]
    assert types[0] == "WorkflowStarted" and types[-1] == "WorkflowCompleted"
    assert "ActivityHeartbeat" in types and "SignalReceived" in types
    # Queries recorded nothing.
    assert not any("Query" in t for t in types)


def test_cancel_and_pause_resume_from_another_process(aion):
    aion.worker()
    everything = aion.spawn("watch", "--all", "--json")
    assert everything.stderr.readline().startswith("aion watch: following the new events of every workflow")
    assert aion("start", "nap", "--input", "3600", "--id", "n-1").returncode == 0
    paused = aion("pause", "n-1", "--reason", "maintenance")
    assert paused.returncode == 0, paused.stderr
    assert aion.json("describe", "n-1")["paused_reason"] == "maintenance"
    assert aion("resume", "n-1").returncode == 0
    cancelled = aion("cancel", "n-1", "--reason", "not needed")
    assert cancelled.returncode == 0, cancelled.stderr
    result = aion("result", "n-1", "--wait", "--timeout", "60")
    assert result.returncode == 3
    assert result.stderr.strip() == "aion: workflow 'n-1' was cancelled: not needed"
    # `watch --all` saw it all happen, and Ctrl-C ends it with exit 0.
    out, err = aion.stop(everything)
    assert everything.returncode == 0, err
    seen = [(e["workflow_id"], e["type"]) for e in map(json.loads, out.splitlines())]
    assert ("n-1", "WorkflowStarted") in seen and ("n-1", "WorkflowPaused") in seen
    assert seen[-1] == ("n-1", "WorkflowCancelled")
    # A command for an ended run is refused from the store alone.
    late = aion("signal", "n-1", "wake")
    assert late.returncode == 1
    assert late.stderr.strip() == "aion: workflow 'n-1' is not running (status cancelled); nothing was recorded"


def test_without_a_worker_the_request_is_withdrawn_and_nothing_is_recorded(aion):
    with aion_engine.Engine(store=aion.store, workflows=[shop.nap]) as engine:
        engine.start("nap", 3600, id="n-2")
    before = aion.json("history", "n-2")
    signalled = aion("signal", "n-2", "wake", "--timeout", "0.5")
    assert signalled.returncode == 4
    assert signalled.stderr.strip() == ("aion: no worker answered within 0.5s (start one with: aion worker FILE); "
                                        "nothing was recorded")
    started = aion("start", "nap", "--input", "1", "--id", "n-3", "--timeout", "0.5")
    assert started.returncode == 4
    assert aion.json("history", "n-2") == before
    assert aion("describe", "n-3").returncode == 1
    with open_store(aion.store) as s:
        assert s.claim_requests("test", 10) == []  # withdrawn: a worker started later will not act on them


def test_ctrl_c_of_run_leaves_the_run_durable_and_a_worker_finishes_it(aion):
    run = aion.spawn("run", SHOP, "--workflow", "nap", "--input", "4", "--id", "n-4")
    aion.wait_for_event("n-4", "TimerStarted")
    out, err = aion.stop(run, signal.SIGINT)
    assert run.returncode == 130, err
    assert err.strip().splitlines()[-1] == (f"aion: interrupted; workflow 'n-4' is durable and carries on when an "
                                            f"engine serves it again: aion worker {SHOP} --store {aion.store}")
    assert "Traceback" not in err
    assert aion.json("describe", "n-4")["status"] == "running"
    aion.worker()
    result = aion("result", "n-4", "--wait", "--timeout", "60")
    assert (result.returncode, result.stdout.strip()) == (0, "woke up"), result.stderr


def test_user_mistakes_are_one_line_with_documented_exit_codes(aion, tmp_path):
    missing = aion("list", "--store", f"sqlite:///{tmp_path}/nowhere.db")
    assert missing.returncode == 1
    assert missing.stderr.startswith("aion: store sqlite:///") and "does not exist" in missing.stderr
    assert not (tmp_path / "nowhere.db").exists()  # reading never creates an empty store
    open_store(aion.store).close()
    cases = {
        ("start", "order", "--input", "{items: 1}"): (1, "aion: --input is not valid JSON"),
        ("signal", "ghost", "approve"): (1, "aion: workflow 'ghost' not found (check the id, or the store URL)"),
        ("result", "ghost"): (1, "aion: workflow 'ghost' not found"),
        ("run", str(tmp_path / "absent.py")): (1, f"aion: file '{tmp_path / 'absent.py'}' not found"),
        ("list", "--status", "sleeping"): (2, "Usage: "),
        ("list", "--since", "yesterday"): (1, "aion: --since 'yesterday' is neither a duration"),
    }
    for args, (code, start) in cases.items():
        done = aion(*args)
        assert done.returncode == code, (args, done.stderr)
        assert done.stderr.startswith(start), (args, done.stderr)
        assert "Traceback" not in done.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("from aion_actors import workflow\n\n@workflow.defn\nasync def w(:\n    pass\n")
    done = aion("run", str(broken))
    assert done.returncode == 1
    assert done.stderr.strip() == f"aion: syntax error in {broken}, line 4: invalid syntax"


APP_V1 = """
from aion_actors import activity, workflow

@activity.defn
def step(name: str) -> str:
    return name

@workflow.defn
async def pipeline(n: int) -> list:
    done = [await workflow.execute_activity(step, "fetch", start_to_close_timeout=10)]
    {change}
    done.append(await workflow.execute_activity(step, "store", start_to_close_timeout=10))
    return done
"""


def _app(tmp_path, name: str, change: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(APP_V1).replace("{change}", change))
    return str(path)


def test_replay_catches_a_change_made_without_patched(aion, tmp_path):
    v1 = _app(tmp_path, "v1.py", "pass")
    finished = aion("run", v1, "--input", "1", "--id", "p-1")
    assert finished.returncode == 0, finished.stderr
    # The same code replays; a step inserted without a guard diverges; the guarded one replays.
    unguarded = _app(tmp_path, "v2.py", 'done.append(await workflow.execute_activity(step, "clean", '
                                        'start_to_close_timeout=10))')
    guarded = _app(tmp_path, "v3.py", 'if workflow.patched("clean-step"):\n        done.append(await '
                                      'workflow.execute_activity(step, "clean", start_to_close_timeout=10))')
    ok = aion("replay", "--all", "--app", v1)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 replayed: 1 ok, 0 failed" in ok.stdout
    diverged = aion("replay", "p-1", "--app", unguarded, "--json")
    assert diverged.returncode == 1
    (verdict,) = json.loads(diverged.stdout)
    assert verdict["status"] == "diverged" and verdict["message"].startswith("non-determinism in workflow 'p-1'")
    assert aion("replay", "--all", "--type", "pipeline", "--app", guarded).returncode == 0
