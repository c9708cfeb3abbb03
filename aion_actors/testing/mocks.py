"""Activity mocks: serve a replacement function under a registered activity's name.

The workflow code is unchanged: it schedules the activity by name (or by
its `@activity.defn` function, which names it), and the engine runs
whatever its registry holds under that name. A mock takes that place.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from ..definitions import ActivityDefinition, Registry, activity_definition
from ..errors import InvalidArgument


def mock_name(activity: str | Callable[..., Any]) -> str:
    """The activity name a mock key stands for: a name, or an `@activity.defn` function."""
    if isinstance(activity, str):
        return activity
    return activity_definition(activity).name


def install_mock(registry: Registry, activity: str | Callable[..., Any], fn: Callable[..., Any]) -> str:
    """Serve `fn` in place of `activity` from now on; return the activity's name.

    A name must be one the registry serves: a mock for a misspelt name would
    silently never run. Keyed by its `@activity.defn` function, the activity
    need not be registered (its implementation may not even be importable in
    the tests' environment, only its declaration).

    Raises:
        InvalidArgument: unknown name, or `fn` is not callable.
    """
    name = mock_name(activity)
    if isinstance(activity, str) and name not in registry.activities:
        known = ", ".join(sorted(registry.activities)) or "none"
        raise InvalidArgument(f"cannot mock activity {name!r}: no activity of that name is registered "
                              f"(registered: {known}); pass it in activities=[...] or key the mock by "
                              f"its @activity.defn function")
    if not callable(fn) or inspect.isclass(fn):
        raise InvalidArgument(f"the mock for activity {name!r} must be a function, got {fn!r}")
    # Always on the thread pool: a mock is often a closure, which a worker process cannot import.
    registry.activities[name] = ActivityDefinition(name, fn, inspect.iscoroutinefunction(fn), "thread")
    return name


def install_mocks(registry: Registry, mocks: Mapping[str | Callable[..., Any], Callable[..., Any]]) -> None:
    if not isinstance(mocks, Mapping):
        raise InvalidArgument(f"mocks= takes a mapping of activity (name or function) to replacement, "
                              f"got {mocks!r}")
    for activity, fn in mocks.items():
        install_mock(registry, activity, fn)
