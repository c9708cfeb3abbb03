"""aion_actors: durable workflows on supervised actors.

The public names; everything else is internal.
"""

from . import activity, workflow
from .description import PendingActivity, WorkflowDescription
from .engine import Engine, WorkflowHandle
from .errors import (ActivityCancelled, ActivityError, AionError, ApplicationError, CancelledError, Failure, InvalidArgument,
                     NoWorkerAnswered, NonDeterminismError, NotRunning, PayloadError, QueryFailed, QueryTimeout, SequenceConflict,
                     StoreError, UnknownQuery, UnknownWorkflowType, WorkflowAlreadyExists, WorkflowCancelled,
                     WorkflowFailed, WorkflowNotFound, WorkflowTimedOut)
from .events import HistoryEvent
from .retry import RetryPolicy
from .status import WorkflowStatus

__all__ = [
    "ActivityCancelled", "ActivityError", "AionError", "ApplicationError", "CancelledError", "Engine", "Failure", "HistoryEvent",
    "InvalidArgument", "NoWorkerAnswered", "NonDeterminismError", "NotRunning", "PayloadError", "PendingActivity", "QueryFailed",
    "QueryTimeout", "RetryPolicy", "SequenceConflict", "StoreError", "UnknownQuery", "UnknownWorkflowType",
    "WorkflowAlreadyExists", "WorkflowCancelled", "WorkflowDescription", "WorkflowFailed", "WorkflowHandle",
    "WorkflowNotFound", "WorkflowStatus", "WorkflowTimedOut", "activity", "workflow",
]
