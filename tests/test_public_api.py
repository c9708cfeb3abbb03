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


def test_the_public_names_are_exactly_these():
    """Adding or removing a public name is a decision: this list changes with it (and the README's changelog)."""
    import aion_actors.testing

    assert sorted(aion.__all__) == sorted([
        "ActivityCancelled", "ActivityError", "AionError", "ApplicationError", "CancelledError", "Engine", "Failure",
        "HistoryEvent", "InvalidArgument", "NoWorkerAnswered", "NonDeterminismError", "NotRunning", "PayloadError",
        "PendingActivity", "QueryFailed", "QueryTimeout", "Residency", "RetryPolicy", "SequenceConflict",
        "StoreError", "TaskQueue", "UnknownQuery", "UnknownWorkflowType", "WorkflowAlreadyExists", "WorkflowCancelled",
        "WorkflowDescription", "WorkflowFailed", "WorkflowHandle", "WorkflowNotFound", "WorkflowStatus",
        "WorkflowSummary", "WorkflowTimedOut", "activity", "workflow"])
    assert sorted(aion_actors.testing.__all__) == ["WorkflowEnvironment", "replay"]
    assert sorted(activity.__all__) == ["ActivityInfo", "defn", "heartbeat", "info", "is_cancelled"]
    assert sorted(workflow.__all__) == sorted([
        "defn", "execute_activity", "sleep", "receive", "set_query_handler", "all", "race", "start_child",
        "execute_child", "signal_external", "ChildHandle", "start_timer", "Timer", "with_timeout", "all_settled",
        "now", "random", "uuid4", "info", "continue_as_new", "patched", "deprecate_patch", "WorkflowInfo"])
    for module in (aion, aion_actors.testing, activity, workflow):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_engine_and_handle_show_only_their_public_surface():
    """The engine's runtime, store, seam and registry are internals: not attributes users can lean on."""
    engine = aion.Engine("memory:")
    handle = aion.WorkflowHandle(engine, "w")
    assert [n for n in vars(engine) if not n.startswith("_")] == ["resumed"]
    assert [n for n in vars(handle) if not n.startswith("_")] == ["workflow_id"]
    public_methods = {n for n in dir(aion.Engine) if not n.startswith("_")}
    assert public_methods == {"close", "get_handle", "list", "node_id", "open", "residency", "serve_requests",
                              "start"}


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


def test_the_engine_uses_only_what_supervisors_and_stores_publish():
    """Layers import downwards, and only through the lower layer's public modules."""
    import pathlib
    import re

    root = pathlib.Path(aion.__file__).parent
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            found = re.match(r"\s*(?:from|import)\s+((?:supervisors|stores)[\w.]*)", line)
            if found:
                assert not any(part.startswith("_") for part in found.group(1).split(".")), \
                    f"{path.relative_to(root)} imports a private module: {line.strip()}"
