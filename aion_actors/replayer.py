"""Replaying a recorded history against workflow code, outside any engine.

`replay(history, workflow)` re-runs the code of the history's last run
against its events and raises `NonDeterminismError` at the first command
that does not match — by correlation key, and byte for byte unless
`strict=False`. It records and dispatches nothing. Use it in tests to check
that changed workflow code still replays the histories of running
workflows (keep a few under `tests/histories/`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from . import events as ev
from .definitions import Registry, workflow_definition
from .errors import InvalidArgument
from .instance import WorkflowInfo, WorkflowInstance


def replay(history: Sequence[ev.HistoryEvent], workflow: Callable[..., Any], *,
           activities: Sequence[Callable[..., Any]] = (), strict: bool = True) -> WorkflowInstance:
    """Replay the last run of `history` with `workflow`; return the replayed instance.

    `activities` lets results decode to their annotated types, as in the engine.
    Raises `NonDeterminismError` on a mismatch, `InvalidArgument` for a history
    that does not start a run of this workflow.
    """
    definition = workflow_definition(workflow)
    starts = [i for i, e in enumerate(history) if isinstance(e.event, ev.WorkflowStarted)]
    if not starts:
        raise InvalidArgument("the history has no WorkflowStarted event")
    run = list(history[starts[-1]:])
    started = run[0]
    if started.event.workflow_type != definition.name:
        raise InvalidArgument(f"the history is of workflow type {started.event.workflow_type!r}, "
                              f"not {definition.name!r}")
    info = WorkflowInfo(started.workflow_id, started.run_id, definition.name,
                        started.event.parent_workflow_id, len(starts))
    instance = WorkflowInstance(definition, info, started.event.input, started.recorded_at,
                                Registry([workflow], list(activities)))
    instance.strict = strict
    instance.replaying = True
    instance.expect_patches(run[1:])
    instance.start()
    for event in run[1:]:
        instance.apply(event)
    instance.close()
    return instance
