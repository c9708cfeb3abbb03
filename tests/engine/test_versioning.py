"""Changing workflow code under recorded histories: `patched`, then `deprecate_patch`, then neither.

Each history is recorded by a real engine on a SQLite file, then replayed
with `aion_actors.replayer.replay` against every later version of the code.
"""

from __future__ import annotations

import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.replayer import replay


@activity.defn
def step(name: str) -> str:
    return name


async def _run(name: str) -> str:
    return await workflow.execute_activity(step, name, start_to_close_timeout=10)


@workflow.defn(name="pipeline")
async def v0_original() -> list:
    return [await _run("fetch"), await _run("store")]


@workflow.defn(name="pipeline")
async def v1_patched() -> list:
    done = [await _run("fetch")]
    if workflow.patched("clean"):
        done.append(await _run("clean"))
    return done + [await _run("store")]


@workflow.defn(name="pipeline")
async def v2_deprecated() -> list:
    done = [await _run("fetch")]
    workflow.deprecate_patch("clean")
    done.append(await _run("clean"))
    return done + [await _run("store")]


@workflow.defn(name="pipeline")
async def v3_plain() -> list:
    return [await _run("fetch"), await _run("clean"), await _run("store")]


VERSIONS = {"v0": v0_original, "v1": v1_patched, "v2": v2_deprecated, "v3": v3_plain}


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """The history each version records for one complete run, and its result."""
    recorded = {}
    for label, fn in VERSIONS.items():
        url = f"sqlite:///{tmp_path_factory.mktemp(label)}/aion.db"
        with aion.Engine(store=url, workflows=[fn], activities=[step]) as engine:
            handle = engine.start(fn, id=f"run-{label}")
            recorded[label] = (handle.result(timeout=30), handle.history())
    return recorded


def _markers(history):
    return [e.event.name for e in history if e.type_name == "MarkerRecorded"]


def test_what_each_version_records(histories):
    assert histories["v0"][0] == ["fetch", "store"]
    assert all(histories[v][0] == ["fetch", "clean", "store"] for v in ("v1", "v2", "v3"))
    assert _markers(histories["v0"][1]) == []
    assert _markers(histories["v1"][1]) == ["patch:clean"]
    assert _markers(histories["v2"][1]) == ["patch-deprecated:clean"]
    assert _markers(histories["v3"][1]) == []


# (history recorded by, code replaying it): does it replay?
CASES = {
    ("v0", "v1"): True,    # patched() is False for the old run: the old path
    ("v1", "v1"): True,
    ("v2", "v1"): True,    # rolling back to the patched code is safe
    ("v1", "v2"): True,    # deprecate_patch matches the marker patched() recorded
    ("v2", "v2"): True,
    ("v0", "v2"): False,   # too early: a run from before the change is still there
    ("v2", "v3"): True,    # the deprecated marker is skipped once the call is gone
    ("v3", "v3"): True,
    ("v1", "v3"): False,   # patched() markers are not skipped: deprecate first
    ("v0", "v3"): False,
}


@pytest.mark.parametrize("recorded_by, code", list(CASES), ids=[f"{h}-by-{c}" for h, c in CASES])
def test_replay_across_versions(histories, recorded_by, code):
    history = histories[recorded_by][1]
    if CASES[(recorded_by, code)]:
        instance = replay(history, VERSIONS[code], activities=[step])
        assert instance.finished
    else:
        with pytest.raises(aion.NonDeterminismError, match="non-determinism in workflow"):
            replay(history, VERSIONS[code], activities=[step])


def test_a_running_workflow_moves_from_patched_to_deprecated_code(tmp_path):
    """A run started under `patched` code finishes under `deprecate_patch` code, in a real engine."""

    @workflow.defn(name="gated")
    async def gated_v1() -> list:
        done = [await _run("fetch")]
        if workflow.patched("clean"):
            done.append(await _run("clean"))
        await workflow.receive("go")
        return done + [await _run("store")]

    @workflow.defn(name="gated")
    async def gated_v2() -> list:
        done = [await _run("fetch")]
        workflow.deprecate_patch("clean")
        done.append(await _run("clean"))
        await workflow.receive("go")
        return done + [await _run("store")]

    url = f"sqlite:///{tmp_path}/aion.db"
    with aion.Engine(store=url, workflows=[gated_v1], activities=[step]) as engine:
        handle = engine.start("gated", id="g-1")
        while "MarkerRecorded" not in [e.type_name for e in handle.history()]:
            time.sleep(0.01)
    with aion.Engine(store=url, workflows=[gated_v2], activities=[step]) as engine:
        handle = engine.get_handle("g-1")
        handle.signal("go")
        assert handle.result(timeout=30) == ["fetch", "clean", "store"]
        assert _markers(handle.history()) == ["patch:clean"]
