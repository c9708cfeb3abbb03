"""Histories written by earlier code versions still read and replay with today's code.

Each file under tests/histories/<version>-<commit>/ holds one workflow's
stored rows (see README.md). A failure here means a change to the event
codec, the event catalog, the payload codec or a workflow breaks histories
that exist in users' stores: fix the change, never the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aion_actors import converter
from aion_actors import events as ev
from aion_actors.replayer import replay
from aion_actors.status import project
from tests.histories import wire

FILES = wire.history_files()


def _runs(history: list[ev.HistoryEvent]) -> list[list[ev.HistoryEvent]]:
    """The history cut after each run: `replay` replays the last run of what it is given."""
    ends = [i for i, e in enumerate(history) if isinstance(e.event, ev.WorkflowStarted)][1:] + [len(history)]
    return [history[:end] for end in ends]


def _decoded(path):
    meta, rows = wire.read(path)
    return meta, [ev.from_stored(row) for row in rows]


def test_there_are_histories_of_every_example():
    examples = sorted(p.stem for p in wire.ROOT.glob("examples/[0-9][0-9]_*.py"))
    recorded = {json.loads(p.read_text().partition("\n")[0])["scenario"] for p in FILES}
    assert [stem for stem in examples if stem not in recorded] == []


def test_every_event_type_is_in_some_checked_in_history():
    seen = {row.type for path in FILES for row in wire.read(path)[1]}
    missing = sorted(set(ev.EVENT_TYPES) - seen)
    assert missing == [], (f"no checked-in history contains {missing}: add a scenario that writes them to "
                           f"tests/histories/record.py and record a new version directory")


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_history_decodes_and_replays(path):
    meta, history = _decoded(path)
    assert [e.type_name for e in history[:1]] == ["WorkflowStarted"]
    assert history[0].event.workflow_type == meta["workflow_type"]
    assert sorted({e.type_name for e in history}) == meta["event_types"]
    # Every field survives a round trip through today's encoder: the catalog did not drift.
    for item in history:
        assert ev.decode_event(item.type_name, ev.encode_event(item.event)) == item.event

    module = wire.load(meta["source"])
    workflow = getattr(module, meta["workflow"])
    for run in _runs(history):
        # Strict: every recorded command, the run's end included, is made again byte for byte ...
        instance = replay(run, workflow, activities=wire.activities(module))
        # ... and nothing more: code that now ends where the run waited (or goes on) is not the same outcome.
        assert instance.take_new_commands() == []

    assert str(project(history)) == meta["status"]
    last = history[-1].event
    if isinstance(last, ev.WorkflowCompleted):
        value = converter.decode_value(last.result, converter.return_annotation(workflow))
        assert json.loads(json.dumps(value, default=repr)) == meta["result"]


def test_a_history_file_that_was_tampered_with_is_refused(tmp_path):
    path = next(p for p in FILES if p.stem.startswith("01_hello"))
    header, first, *rest = path.read_text().splitlines()
    row = json.loads(first)
    row["data"] = row["data"][:-4] + ("AAAA" if not row["data"].endswith("AAAA") else "BBBB")
    damaged = tmp_path / path.name
    damaged.write_text("\n".join([header, json.dumps(row), *rest]) + "\n")
    with pytest.raises(Exception, match="corrupted"):
        wire.read(damaged)



def test_a_failed_run_replays_from_another_checkout(tmp_path):
    # Its recorded traceback names the file and line that raised: moved or edited code must still replay it.
    path = next(p for p in FILES if json.loads(p.read_text().partition("\n")[0])["workflow_id"] == "rejects")
    meta, history = _decoded(path)
    moved = tmp_path / "workflows.py"
    moved.write_text("# one line more above every raise\n" + (wire.ROOT / meta["source"]).read_text())
    module = wire.load(str(moved))
    assert str(tmp_path) not in [e.event.failure.traceback for e in history if e.type_name == "WorkflowFailed"][0]
    replay(_runs(history)[0], module.rejects, activities=wire.activities(module))


def test_record_script_still_records_what_the_test_reads(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(wire.ROOT)}
    done = subprocess.run([sys.executable, str(wire.HERE / "record.py"), "--only", "01_hello", "--only", "extras",
                           "--out", str(tmp_path / "new"), "--allow-dirty"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = sorted((tmp_path / "new").glob("*.jsonl"))
    assert {json.loads(p.read_text().partition("\n")[0])["scenario"] for p in written} == {"01_hello", "extras"}
    for path in written:
        test_history_decodes_and_replays(path)


def test_record_script_never_rewrites_a_version_directory(tmp_path):
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "01_hello.hello.1.jsonl").write_text("{}\n")
    env = {**os.environ, "PYTHONPATH": str(wire.ROOT)}
    done = subprocess.run([sys.executable, str(wire.HERE / "record.py"), "--out", str(existing), "--allow-dirty"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "never rewritten" in done.stderr
    assert (existing / "01_hello.hello.1.jsonl").read_text() == "{}\n"
