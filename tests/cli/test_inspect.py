"""`aion` through click's runner, on real SQLite files: reading the store, and commanding an engine
that serves requests in this process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import aion_actors as aion
import stores
from aion_actors import workflow
from aion_actors.cli import main
from tests.cli import shop
from tests.engine.test_basics import add, sums


@workflow.defn
async def doomed(reason: str) -> None:
    raise aion.ApplicationError(f"refused: {reason}", non_retryable=True)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/aion.db"


def test_list_history_describe(url):
    with aion.Engine(store=url, workflows=[sums], activities=[add]) as engine:
        engine.start(sums, 2, id="cli-1").result(timeout=10)
    listed = invoke("list", "--store", url, "--json")
    assert listed.exit_code == 0, listed.output
    assert [row["workflow_id"] for row in json.loads(listed.output)] == ["cli-1"]
    history = invoke("history", "cli-1", "--store", url, "--json")
    events = json.loads(history.output)
    assert events[0]["type"] == "WorkflowStarted" and events[0]["input"] == 2
    assert events[-1]["type"] == "WorkflowCompleted" and events[-1]["result"] == 1
    described = invoke("describe", "cli-1", "--store", url, "--json")
    assert json.loads(described.output)["status"] == "completed"
    table = invoke("list", "--store", url)
    assert "cli-1" in table.output


def test_history_is_a_timeline_and_raw_shows_every_field(url):
    with aion.Engine(store=url, workflows=[sums], activities=[add]) as engine:
        engine.start(sums, 2, id="t-1").result(timeout=10)
    timeline = invoke("history", "t-1", "--store", url).output.splitlines()
    assert timeline[0].startswith("t-1 — ")
    assert "WorkflowStarted" in timeline[1] and "sums(2)" in timeline[1]
    assert "WorkflowCompleted" in timeline[-1] and "→ 1" in timeline[-1]
    raw = invoke("history", "t-1", "--store", url, "--raw").output
    assert "activity_type='add'" in raw and "run" in raw


def test_list_filters_by_status_type_and_start_time(url):
    with aion.Engine(store=url, workflows=[sums, shop.nap], activities=[add]) as engine:
        engine.start(sums, 1, id="done-1").result(timeout=10)
        engine.start(shop.nap, 3600, id="nap-1")

    def ids(*args: str) -> list[str]:
        done = invoke("list", "--store", url, "--json", *args)
        assert done.exit_code == 0, done.output
        return [row["workflow_id"] for row in json.loads(done.output)]

    assert ids() == ["nap-1", "done-1"]
    assert ids("--status", "running") == ["nap-1"]
    assert ids("--type", "sums") == ["done-1"]
    assert ids("--since", "1h") == ["nap-1", "done-1"]
    assert ids("--since", "2999-01-01") == []
    assert ids("--limit", "1") == ["nap-1"]


def test_describe_shows_pending_timers_and_a_failure_with_its_traceback(url):
    with aion.Engine(store=url, workflows=[doomed, shop.nap]) as engine:
        engine.start(shop.nap, 3600, id="nap-2")
        with pytest.raises(aion.WorkflowFailed):
            engine.start(doomed, "no stock", id="doomed-1").result(timeout=10)
    napping = json.loads(invoke("describe", "nap-2", "--store", url, "--json").output)
    assert napping["status"] == "running" and len(napping["runs"]) == 1
    (timer,) = napping["pending_timers"]
    assert 3500 < timer["seconds_left"] <= 3600
    shown = invoke("describe", "nap-2", "--store", url).output
    assert f"{timer['timer_id']}  due" in shown and "(in " in shown
    failed = json.loads(invoke("describe", "doomed-1", "--store", url, "--json").output)
    assert failed["failure"]["message"] == "refused: no stock"
    assert "Traceback" in failed["failure"]["traceback"]
    assert "refused: no stock" in invoke("describe", "doomed-1", "--store", url).output


def test_result_exit_codes(url):
    with aion.Engine(store=url, workflows=[doomed, sums, shop.nap], activities=[add]) as engine:
        engine.start(sums, 2, id="ok-1").result(timeout=10)
        engine.start(shop.nap, 3600, id="nap-3")
        with pytest.raises(aion.WorkflowFailed):
            engine.start(doomed, "x", id="doomed-2").result(timeout=10)
    ok = invoke("result", "ok-1", "--store", url)
    assert (ok.exit_code, ok.output) == (0, "1\n")
    failed = invoke("result", "doomed-2", "--store", url)
    assert failed.exit_code == 3
    assert failed.stderr == "aion: workflow 'doomed-2' failed: ApplicationError: refused: x\n"
    running = invoke("result", "nap-3", "--store", url)
    assert running.exit_code == 4 and "has not finished (status running)" in running.stderr
    waited = invoke("result", "nap-3", "--store", url, "--wait", "--timeout", "0.3")
    assert waited.exit_code == 4 and "did not finish within 0.3s" in waited.stderr


def test_commands_reach_an_engine_serving_requests_in_another_thread(url):
    with aion.Engine(store=url, workflows=[shop.order], activities=[shop.pack], serve_requests=True) as engine:
        started = invoke("start", "order", "--input", '{"items": 1}', "--id", "o-9", "--store", url)
        assert (started.exit_code, started.output) == (0, "o-9\n"), started.output
        handle = engine.get_handle("o-9")
        unknown = invoke("query", "o-9", "nothing", "--store", url)
        assert unknown.exit_code == 1
        assert unknown.stderr.startswith("aion: workflow 'o-9' has no query handler 'nothing'; it has: ")
        duplicate = invoke("start", "order", "--id", "o-9", "--store", url)
        assert duplicate.stderr.startswith("aion: workflow 'o-9' already exists")
        bad_payload = invoke("start", "order", "--input", '{"items": "many"}', "--store", url)
        assert bad_payload.exit_code == 0  # the input is only checked by the workflow: it fails, typed
        assert invoke("signal", "o-9", "approve", "--payload", '{"by": "bob"}', "--store", url).exit_code == 0
        assert handle.result(timeout=30) == {"packed": 1, "approved_by": "bob"}
    # engine.close() stopped the request server: with nobody serving, requests time out, recording nothing.
    late = invoke("start", "order", "--id", "o-10", "--store", url, "--timeout", "0.2")
    assert late.exit_code == 4


class HistoriesOnly(stores.EventStore):
    """A third-party store that implements `EventStore` and no `RequestInbox` (as it may)."""

    def __init__(self) -> None:
        self._inner = stores.InMemoryStore()

    def append_batch(self, appends):
        return self._inner.append_batch(appends)

    def read_history_from(self, workflow_id, from_seq):
        return self._inner.read_history_from(workflow_id, from_seq)

    def read_run_chain(self, workflow_id):
        return self._inner.read_run_chain(workflow_id)

    def get_summary(self, workflow_id):
        return self._inner.get_summary(workflow_id)

    def list_active(self):
        return self._inner.list_active()

    def query(self, filter=stores.WorkflowFilter()):
        return self._inner.query(filter)

    def all_timers(self):
        return self._inner.all_timers()

    def timers_of(self, workflow_id):
        return self._inner.timers_of(workflow_id)


def test_an_engine_on_a_store_without_an_inbox_refuses_to_serve_requests():
    with pytest.raises(aion.InvalidArgument, match="does not implement stores.RequestInbox"):
        aion.Engine(store=HistoriesOnly(), workflows=[sums], activities=[add], serve_requests=True)
    with aion.Engine(store=HistoriesOnly(), workflows=[sums], activities=[add]) as engine:
        with pytest.raises(aion.InvalidArgument, match="has no request inbox"):
            engine.serve_requests()
        assert engine.start(sums, 3, id="no-inbox").result(timeout=10) == 3  # the engine itself works on


def test_the_entry_point_prints_one_line_for_an_unknown_workflow(tmp_path, url):
    aion.Engine(store=url).open().close()
    done = subprocess.run([sys.executable, "-c", "from aion_actors.cli import run; run()", "history", "nope",
                           "--store", url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "aion: workflow 'nope' not found (check the id, or the store URL)"


def test_events_without_their_own_summary_show_their_fields_only():
    from aion_actors import events as ev
    from aion_actors.cli import render

    assert render.summarize(ev.TimerCancelled("engine:start_to_close:1:1")) == "engine:start_to_close:1:1"
    assert render.summarize(ev.WorkflowPaused("maintenance")) == "maintenance"


def test_terminate_through_the_inbox_ends_the_run_without_cleanup(url):
    from aion_actors import inbox, request_server

    assert set(request_server.HANDLERS) == set(inbox.KINDS)   # every kind the CLI sends is served
    with aion.Engine(store=url, workflows=[shop.nap], serve_requests=True) as engine:
        engine.start(shop.nap, 3600, id="n-1")
        done = invoke("terminate", "n-1", "--reason", "stuck", "--store", url)
        assert (done.exit_code, done.output) == (0, "n-1 terminated\n"), done.output + done.stderr
        last = engine.get_handle("n-1").history()[-1]
        assert last.type_name == "WorkflowCancelled" and last.event.terminated and last.event.reason == "stuck"
        again = invoke("terminate", "n-1", "--store", url)
        assert again.exit_code == 1 and "not running" in again.stderr
