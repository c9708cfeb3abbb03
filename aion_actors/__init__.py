"""aion_actors: durable workflows on supervised actors.

The public names; everything else is internal.
"""

from stores.base import WorkflowSummary

from . import activity, workflow
from .description import PendingActivity, WorkflowDescription
from .engine import Engine, WorkflowHandle
from .errors import (ActivityCancelled, ActivityError, AionError, ApplicationError, CancelledError, Failure, InvalidArgument,
                     NoWorkerAnswered, NonDeterminismError, NotRunning, PayloadError, QueryFailed, QueryTimeout, SequenceConflict,
                     StoreError, UnknownQuery, UnknownWorkflowType, WorkflowAlreadyExists, WorkflowCancelled,
                     WorkflowFailed, WorkflowNotFound, WorkflowTimedOut)
from .events import HistoryEvent
from .retry import RetryPolicy
from .seam import Residency
from .status import WorkflowStatus
from .task_queue import TaskQueue

__all__ = [
    "ActivityCancelled", "ActivityError", "AionError", "ApplicationError", "CancelledError", "Engine", "Failure",
    "HistoryEvent", "InvalidArgument", "NoWorkerAnswered", "NonDeterminismError", "NotRunning", "PayloadError",
    "PendingActivity", "QueryFailed", "QueryTimeout", "Residency", "RetryPolicy", "SequenceConflict", "StoreError",
    "TaskQueue", "UnknownQuery", "UnknownWorkflowType", "WorkflowAlreadyExists", "WorkflowCancelled", "WorkflowDescription",
    "WorkflowFailed", "WorkflowHandle", "WorkflowNotFound", "WorkflowStatus", "WorkflowSummary", "WorkflowTimedOut",
    "activity", "workflow",
]
