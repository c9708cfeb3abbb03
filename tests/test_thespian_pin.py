"""Importing aion_actors fails loudly when a Thespian internal it patches is not the one it was written for.

Each case changes one thing in Thespian in a fresh interpreter, before
anything of aion_actors is imported, exactly as another Thespian release
would present it, then imports aion_actors.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aion_actors.runtime import forkguard, simplebase
from aion_actors.runtime.thespian_pin import PIN, WRITTEN_FOR, Replaced

ROOT = Path(__file__).resolve().parents[1]
REPLACED = [item for item in simplebase.SHAPE + forkguard.SHAPE if isinstance(item, Replaced)]

# Runs in the child: argv = owner module, owner class ('' for the module), attribute, change.
_CHANGE = textwrap.dedent("""
    import importlib, inspect, sys
    module, cls, name, change = sys.argv[1:]
    owner = importlib.import_module(module)
    owner = getattr(owner, cls) if cls else owner
    original = inspect.getattr_static(owner, name)
    original = original.fget if isinstance(original, property) else original
    if change == "signature":
        setattr(owner, name, lambda *args, release_4_1_argument=None: None)
    elif change == "body":    # same signature, other code (in a file: the check reads the source)
        import pathlib, tempfile
        keep = tempfile.TemporaryDirectory()    # removed at exit, after the import below read it
        where = keep.name
        source = f"def replacement{inspect.signature(original)}:" + chr(10) + "    pass" + chr(10)
        pathlib.Path(where, "release_4_1.py").write_text(source)
        sys.path.insert(0, where)
        import release_4_1
        setattr(owner, name, release_4_1.replacement)
    elif change == "missing":
        delattr(owner, name)
    import aion_actors
""")


def import_with(module: str, cls: str, name: str, change: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", _CHANGE, module, cls, name, change], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _owner(item: Replaced) -> tuple[str, str]:
    if inspect.ismodule(item.owner):
        return item.owner.__name__, ""
    return item.owner.__module__, item.owner.__qualname__


@pytest.mark.parametrize("item", REPLACED, ids=[f"{_owner(i)[1] or _owner(i)[0]}.{i.name}" for i in REPLACED])
def test_another_signature_of_a_patched_function_fails_the_import(item):
    done = import_with(*_owner(item), item.name, "signature")
    assert done.returncode != 0
    assert "IncompatibleThespian" in done.stderr
    assert f"written for Thespian {WRITTEN_FOR}" in done.stderr
    assert f"{item.name} has signature (*args, release_4_1_argument=None)" in done.stderr
    assert PIN in done.stderr   # says what to install


def test_other_code_behind_the_same_signature_fails_the_import():
    done = import_with("thespian.system.simpleSystemBase", "ActorRef", "removeChild", "body")
    assert done.returncode != 0
    assert "ActorRef.removeChild has other source code than the patch was written against" in done.stderr


def test_a_missing_property_fails_the_import():
    done = import_with("thespian.system.transport.IPBase", "IPActorAddress", "bindArgs", "missing")
    assert done.returncode != 0
    assert "IPActorAddress.bindArgs does not exist" in done.stderr


def test_a_missing_module_global_fails_the_import():
    done = import_with("thespian.system.utilis", "", "_thesplog_old_file", "missing")
    assert done.returncode != 0
    assert "thespian.system.utilis has no _thesplog_old_file" in done.stderr


def test_the_unchanged_thespian_imports():
    done = import_with("thespian.system.utilis", "", "thesplog", "none")
    assert done.returncode == 0, done.stderr


def test_setup_cfg_pins_the_minor_version_the_patches_were_written_for():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = config["options"]["install_requires"].split()
    assert PIN in requirements
    major, minor, _ = WRITTEN_FOR.split(".")
    assert PIN == f"thespian>={WRITTEN_FOR},<{major}.{int(minor) + 1}"
    assert importlib.metadata.version("thespian").startswith(f"{major}.{minor}.")
