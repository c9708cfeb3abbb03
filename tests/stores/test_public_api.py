"""The names `stores` offers store users and implementers, pinned."""

import subprocess
import sys

import stores

PUBLIC = [
    "Append",
    "DEFAULT_SHARDS",
    "EventStore",
    "EventStoreConformance",
    "InMemoryStore",
    "LeaseRow",
    "NewTask",
    "NodeRow",
    "QueueLimits",
    "QueueStats",
    "Request",
    "RequestInbox",
    "RequestInboxConformance",
    "RunSummary",
    "SequenceConflict",
    "ShardLeases",
    "ShardLeasesConformance",
    "StaleFence",
    "StoreError",
    "StoredEvent",
    "Task",
    "TaskQueues",
    "TaskQueuesConformance",
    "TimerRow",
    "WorkflowFilter",
    "WorkflowState",
    "WorkflowSummary",
    "open_store",
    "shard_of",
]


def test_the_public_names_are_exactly_these():
    assert stores.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(stores, name) is not None, name


def test_the_event_store_contract_is_what_the_engine_uses():
    assert stores.EventStore.__abstractmethods__ == {
        "append_batch", "read_history_from", "read_run_chain", "get_summary", "list_active", "query",
        "all_timers", "timers_of",
    }


def test_the_request_inbox_is_a_contract_of_its_own():
    assert stores.RequestInbox.__abstractmethods__ == {
        "put_request", "claim_requests", "release_claims", "answer_request", "get_request", "withdraw_request",
        "prune_requests",
    }
    assert not issubclass(stores.EventStore, stores.RequestInbox)
    assert not issubclass(stores.RequestInbox, stores.EventStore)
    store = stores.open_store("memory:")
    assert isinstance(store, stores.EventStore) and isinstance(store, stores.RequestInbox)


def test_importing_stores_does_not_import_pytest_or_sqlalchemy():
    # The engine imports `stores` in production, where the conformance suites' pytest is absent.
    code = "import sys, stores; print(sorted(m for m in ('pytest', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        stores.list_workflow_ids  # noqa: B018


def test_shard_leases_is_a_contract_of_its_own():
    assert stores.ShardLeases.__abstractmethods__ == {
        "shard_count", "now", "heartbeat", "nodes", "forget_node", "acquire", "renew", "release", "leases",
    }
    assert not issubclass(stores.EventStore, stores.ShardLeases)
    assert not issubclass(stores.ShardLeases, stores.EventStore)
    store = stores.open_store("memory:")
    assert isinstance(store, stores.ShardLeases)


def test_task_queues_is_a_contract_of_its_own():
    assert stores.TaskQueues.__abstractmethods__ == {
        "define_queue", "queue_limits", "put_task", "claim_tasks", "renew_tasks", "finish_task", "cancel_task",
        "read_tasks", "unfinished_tasks", "expire_task", "release_tasks", "delete_tasks", "queue_stats",
    }
    assert not issubclass(stores.EventStore, stores.TaskQueues)
    assert not issubclass(stores.TaskQueues, stores.EventStore)
    assert isinstance(stores.open_store("memory:"), stores.TaskQueues)
