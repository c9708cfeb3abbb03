"""Fixtures: isolated actor systems (always shut down) and a shared start/stop log."""

from __future__ import annotations

from typing import Any

import pytest

from aion_actors.runtime.system import open_actor_system
from supervisors import Configure, Supervisor, WhichChildren
from tests.waiting import wait_for  # noqa: F401 - the suite's one way to wait, re-exported to these tests


@pytest.fixture
def inprocess():
    handle = open_actor_system("inprocess")
    try:
        yield handle
    finally:
        handle.shutdown()


@pytest.fixture
def local():
    handle = open_actor_system("local")
    try:
        yield handle
    finally:
        handle.shutdown()
        assert not handle.pids(), "actor processes outlived the test"


@pytest.fixture
def log(tmp_path) -> str:
    return str(tmp_path / "children.log")


def start_supervisor(system, spec, cls=Supervisor, timeout: float = 10) -> Any:
    """Create a supervisor, configure it, check the reply; return its address."""
    sup = system.createActor(cls)
    reply = system.ask(sup, Configure(spec) if cls is Supervisor else spec, timeout)
    assert type(reply).__name__ == "Configured", reply
    return sup


def children(system, sup, timeout: float = 5) -> dict:
    """id -> ChildStatus, or None if the supervisor did not answer."""
    reply = system.ask(sup, WhichChildren(), timeout)
    return None if reply is None else {c.id: c for c in reply.children}

