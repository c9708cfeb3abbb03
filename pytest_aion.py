"""The pytest plugin of aion_actors: the `aion_env` fixture.

Registered through the `pytest11` entry point, so every pytest session in
an environment where aion-actors is installed loads this module. It is a
module of its own, outside the `aion_actors` package, and imports nothing
but pytest until a test asks for the fixture: importing `aion_actors`
costs a few hundred milliseconds that projects not using it should not pay.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest


@pytest.fixture
def aion_env() -> Iterator[Callable[..., Any]]:
    """A factory of open `aion_actors.testing.WorkflowEnvironment`s, closed after the test.

    Takes the environment's arguments::

        def test_order(aion_env):
            env = aion_env(workflows=[order], activities=[charge], mocks={"charge": fake_charge})
            assert env.execute(order, {"id": 1}) == {"receipt": "fake"}
    """
    from aion_actors.testing import WorkflowEnvironment

    opened: list[WorkflowEnvironment] = []

    def make(*args: Any, **kwargs: Any) -> WorkflowEnvironment:
        env = WorkflowEnvironment(*args, **kwargs).open()
        opened.append(env)
        return env

    try:
        yield make
    finally:
        for env in reversed(opened):
            env.close()
