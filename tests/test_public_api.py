"""The public names users and the README rely on (DESIGN.md's contract)."""

import aion_actors as aion
from aion_actors import activity, workflow

ERRORS = ["WorkflowNotFound", "WorkflowAlreadyExists", "WorkflowFailed", "WorkflowCancelled", "WorkflowTimedOut",
          "UnknownQuery", "NotRunning", "QueryFailed", "QueryTimeout", "NonDeterminismError", "ActivityError",
          "ApplicationError", "PayloadError", "StoreError", "SequenceConflict", "UnknownWorkflowType",
          "NoWorkerAnswered"]


def test_errors_are_aion_errors_except_cancellation():
    for name in ERRORS:
        assert issubclass(getattr(aion, name), aion.AionError), name
    assert issubclass(aion.CancelledError, BaseException)
    assert not issubclass(aion.CancelledError, Exception)  # `except Exception` cannot swallow a cancellation


def test_store_errors_are_catchable_as_both_hierarchies():
    import stores

    assert issubclass(aion.SequenceConflict, stores.SequenceConflict)
    assert issubclass(aion.StoreError, stores.StoreError)


def test_authoring_api_names():
    for name in ["defn", "execute_activity", "sleep", "receive", "set_query_handler", "execute_child", "start_child",
                 "all", "race", "now", "random", "uuid4", "info", "continue_as_new", "patched", "deprecate_patch", "start_timer",
                 "with_timeout", "all_settled", "signal_external"]:
        assert callable(getattr(workflow, name)), name
    for name in ["defn", "heartbeat", "is_cancelled", "info"]:
        assert callable(getattr(activity, name)), name
    assert set(aion.__all__) >= {"Engine", "RetryPolicy", "WorkflowHandle", "activity", "workflow", *ERRORS}


def test_retry_policy_defaults():
    policy = aion.RetryPolicy()
    assert (policy.initial_interval, policy.backoff, policy.max_attempts, policy.non_retryable) == (1.0, 2.0, None, [])
    assert policy.interval(100) == 100 * policy.initial_interval


def test_declaration_mistakes_fail_at_decoration():
    import pytest

    with pytest.raises(aion.InvalidArgument):
        @workflow.defn
        def not_async(x):
            return x
    with pytest.raises(aion.InvalidArgument):
        @workflow.defn
        async def two_inputs(a, b):
            return a
    with pytest.raises(aion.InvalidArgument):
        aion.RetryPolicy(backoff=0.5)
