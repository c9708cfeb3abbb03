"""aion_actors: durable workflows on supervised actors.

The public names; everything else is internal.
"""

from . import activity, workflow
from .engine import Engine, PendingActivity, WorkflowDescription, WorkflowHandle
from .errors import (ActivityCancelled, ActivityError, AionError, ApplicationError, CancelledError, Failure, InvalidArgument,
                     NonDeterminismError, NotRunning, PayloadError, QueryFailed, QueryTimeout, SequenceConflict,
                     StoreError, UnknownQuery, UnknownWorkflowType, WorkflowAlreadyExists, WorkflowCancelled,
                     WorkflowFailed, WorkflowNotFound, WorkflowTimedOut)
from .events import HistoryEvent
from .retry import RetryPolicy
from .status import WorkflowStatus

__all__ = [
    "ActivityCancelled", "ActivityError", "AionError", "ApplicationError", "CancelledError", "Engine", "Failure", "HistoryEvent",
    "InvalidArgument", "NonDeterminismError", "NotRunning", "PayloadError", "PendingActivity", "QueryFailed",
    "QueryTimeout", "RetryPolicy", "SequenceConflict", "StoreError", "UnknownQuery", "UnknownWorkflowType",
    "WorkflowAlreadyExists", "WorkflowCancelled", "WorkflowDescription", "WorkflowFailed", "WorkflowHandle",
    "WorkflowNotFound", "WorkflowStatus", "WorkflowTimedOut", "activity", "workflow",
]
