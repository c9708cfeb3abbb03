"""The public names are pinned; the library stays below aion_actors."""

from __future__ import annotations

import pathlib
import re

import supervisors


def test_public_names():
    """What users need to write supervision trees, and nothing else (helpers are private)."""
    assert sorted(supervisors.__all__) == sorted([
        "Supervisor", "LinkedActor", "ProcessWatcher",
        "ChildSpec", "Start", "SupervisorSpec", "SpecError", "check_childspecs",
        "STRATEGIES", "RESTART_TYPES", "AUTO_SHUTDOWN", "CHILD_TYPES",
        "NORMAL", "SHUTDOWN", "KILLED", "MAX_INTENSITY",
        "Configure", "StartChild", "TerminateChild", "RestartChild", "DeleteChild", "WhichChildren",
        "WhichChild", "GetChildSpec", "CountChildren", "Shutdown",
        "Configured", "Started", "Terminated", "Deleted", "Children", "ChildStatus", "ChildCount",
        "SupervisorError", "ERRORS",
        "Link", "Unlink", "ExitSignal", "Monitor", "Demonitor", "Down",
        "RestartIntensity",
    ])
    for name in supervisors.__all__:
        assert hasattr(supervisors, name)
    # Identifiers only: pytest rewrites the asserts of every module of a package that ships a pytest
    # plugin (ours does, pytest_aion), which adds globals such as "@py_builtins" no user can name.
    public = {name for name in vars(supervisors) if name.isidentifier() and not name.startswith("_")}
    modules = {"links", "messages", "spec", "supervisor"}
    assert public - modules == set(supervisors.__all__)  # nothing else leaks from the package


def test_imports_only_thespian_and_stdlib():
    root = pathlib.Path(supervisors.__file__).parent
    for path in root.glob("*.py"):
        for line in path.read_text().splitlines():
            found = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
            if found and not found.group(1).startswith("."):
                top = found.group(1).split(".")[0]
                assert top not in ("aion_actors", "stores"), f"{path.name}: {line}"


def test_messages_are_frozen():
    import dataclasses

    import pytest

    msg = supervisors.ExitSignal(None, "normal")
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.reason = "x"
    assert not hasattr(msg, "__dict__")  # slotted


def test_package_docstring_example_runs(inprocess):
    import textwrap

    doc = supervisors.__doc__
    block = doc.split("::\n", 1)[1].split("\nThe pieces:", 1)[0]
    namespace = {"system": inprocess.system, "__name__": "supervisors_example"}
    exec(compile(textwrap.dedent(block), "supervisors.__doc__", "exec"), namespace)
    pool = namespace["system"].ask(namespace["pool_sup"], supervisors.WhichChildren(), 5)
    assert [c.restarts for c in pool.children] == [1]
