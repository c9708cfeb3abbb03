"""Workflow and activity definitions: what `@workflow.defn` and `@activity.defn` record.

Mistakes in a declaration fail at decoration time, not when the engine
first runs the function.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .errors import InvalidArgument

_WORKFLOW_ATTR = "__aion_workflow__"
_ACTIVITY_ATTR = "__aion_activity__"


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    name: str
    fn: Callable[..., Any]
    takes_input: bool


EXECUTORS = ("thread", "process")


@dataclass(frozen=True, slots=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    executor: str = "thread"  # in process: "thread" pool, or "process" pool for CPU-bound code
    task_queue: str | None = None  # None: runs in the owner's process; else a task on that queue


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{what} name must be a non-empty string, got {name!r}")
    return name


def define_workflow(fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    if not inspect.iscoroutinefunction(fn):
        raise InvalidArgument(
            f"@workflow.defn needs an 'async def' function; {getattr(fn, '__qualname__', fn)!r} is not"
        )
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in params if p.default is p.empty]
    if len(params) > 1 or len(required) > 1:
        raise InvalidArgument(
            f"workflow {fn.__qualname__!r} must take at most one input parameter "
            f"(pass several values in a dict or a dataclass)"
        )
    setattr(fn, _WORKFLOW_ATTR, WorkflowDefinition(_check_name(name or fn.__name__, "workflow"), fn, bool(params)))
    return fn


def define_activity(fn: Callable[..., Any], name: str | None = None, executor: str = "thread",
                    task_queue: str | None = None) -> Callable[..., Any]:
    from .task_queue import check_queue_name

    if task_queue is not None:
        check_queue_name(task_queue)
    if not callable(fn) or inspect.isclass(fn):
        raise InvalidArgument(f"@activity.defn needs a function, got {fn!r}")
    if executor not in EXECUTORS:
        raise InvalidArgument(f"@activity.defn(executor=...) must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    is_async = inspect.iscoroutinefunction(fn)
    if executor == "process" and (is_async or "<locals>" in fn.__qualname__):
        raise InvalidArgument(f"activity {fn.__qualname__!r} cannot use executor='process': it must be a plain "
                              f"module-level function (worker processes import it by name)")
    setattr(fn, _ACTIVITY_ATTR, ActivityDefinition(_check_name(name or fn.__name__, "activity"), fn, is_async,
                                                   executor, task_queue))
    return fn


def decorator(define: Callable[..., Any], fn: Callable[..., Any] | None, name: str | None, **options: Any):
    """Support both `@defn` and `@defn(name=..., ...)`."""
    if fn is None:
        return lambda f: define(f, name, **options)
    return define(fn, name, **options)


def workflow_definition(obj: Any) -> WorkflowDefinition:
    defn = getattr(obj, _WORKFLOW_ATTR, None)
    if defn is None:
        raise InvalidArgument(f"{obj!r} is not a workflow: decorate it with @workflow.defn")
    return defn


def activity_definition(obj: Any) -> ActivityDefinition:
    defn = getattr(obj, _ACTIVITY_ATTR, None)
    if defn is None:
        raise InvalidArgument(f"{obj!r} is not an activity: decorate it with @activity.defn")
    return defn


class Registry:
    """The workflows and activities one engine serves, by name."""

    def __init__(self, workflows: list[Any] = (), activities: list[Any] = ()) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.activities: dict[str, ActivityDefinition] = {}
        for wf in workflows:
            d = workflow_definition(wf)
            if d.name in self.workflows and self.workflows[d.name].fn is not d.fn:
                raise InvalidArgument(f"two workflows are named {d.name!r}; give one another name=")
            self.workflows[d.name] = d
        for act in activities:
            d = activity_definition(act)
            if d.name in self.activities and self.activities[d.name].fn is not d.fn:
                raise InvalidArgument(f"two activities are named {d.name!r}; give one another name=")
            self.activities[d.name] = d

    def workflow(self, name: str) -> WorkflowDefinition:
        from .errors import UnknownWorkflowType

        try:
            return self.workflows[name]
        except KeyError:
            raise UnknownWorkflowType(name, tuple(sorted(self.workflows))) from None

    def activity(self, name: str) -> ActivityDefinition | None:
        return self.activities.get(name)
