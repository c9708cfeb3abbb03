"""Waiting on observable state, the one way tests wait.

A test never sleeps and then asserts: it polls what a user could see (a
handle's `describe()` or history, a side-effect file, a process table)
until it holds, and fails with a message naming what it waited for.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # generous: CI machines are shared and slow; a pass never waits this long


def wait_for(predicate: Callable[[], T], what: str = "the condition", timeout: float = DEFAULT_TIMEOUT, *,
             every: float = 0.02, detail: Callable[[], Any] | None = None) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    Args:
        predicate: what to poll; it may raise (`pytest.fail`, say) to give up early.
        what: what is awaited, for the failure message ("the attempt to start").
        timeout: seconds before giving up.
        every: seconds between polls.
        detail: called on timeout; what it returns is added to the message (effects, logs).

    Raises:
        AssertionError: `predicate` stayed falsy for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"{what}: not reached in {timeout}s"
            if detail is not None:
                message += f"\n{detail()}"
            raise AssertionError(message)
        time.sleep(every)
