"""Identifiers.

Workflow ids are chosen by users (or generated); run ids, timer ids and
activity ids are chosen by the engine so that replay reproduces them:
activity ids are the 1-based ordinal of the activity in its run, timer ids
are derived from the timer's ordinal (or its user-given name).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import NewType

from .errors import InvalidArgument

WorkflowId = NewType("WorkflowId", str)
RunId = NewType("RunId", str)
TimerId = NewType("TimerId", str)
ActivityId = NewType("ActivityId", int)

_MAX_ID_LENGTH = 255


def new_workflow_id() -> WorkflowId:
    return WorkflowId(str(uuid.uuid4()))


def new_run_id() -> RunId:
    return RunId(uuid.uuid4().hex)


def new_node_id() -> str:
    """host-pid-random: unique among the nodes of a store, and says where to look for the process."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def check_workflow_id(value: object) -> WorkflowId:
    """Refuse ids that cannot be stored or typed on a command line."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"a workflow id must be a non-empty string, got {value!r}")
    if len(value) > _MAX_ID_LENGTH:
        raise InvalidArgument(f"a workflow id must be at most {_MAX_ID_LENGTH} characters, got {len(value)}")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"a workflow id must not contain control characters: {value!r}")
    return WorkflowId(value)


def timer_id_for(ordinal: int, name: str | None = None) -> TimerId:
    return TimerId(f"{ordinal}:{name}" if name else str(ordinal))

