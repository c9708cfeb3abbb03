"""Activity mocks: the workflow code is unchanged, the engine runs the replacement under the activity's name."""

import pytest

import aion_actors as aion
from aion_actors import activity
from aion_actors.testing import WorkflowEnvironment

from .workflows import DAY, charge, checkout, send_email

ORDER = {"id": 7, "email": "ann@example.com"}


def fake_charge(order: dict) -> str:
    return f"fake-receipt-{order['id']}"


async def fake_send(to: str) -> str:
    return f"mail to {to} (attempt {activity.info().attempt})"


def test_mocks_replace_activities_by_name_or_by_function():
    with WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email],
                             mocks={charge: fake_charge, "send_email": fake_send}) as env:
        handle = env.start(checkout, ORDER)
        assert handle.result(timeout=30) == {"receipt": "fake-receipt-7", "sent": "mail to ann@example.com (attempt 1)"}
        scheduled = [e.event.activity_type for e in handle.history() if e.type_name == "ActivityScheduled"]
        assert scheduled == ["charge", "send_email"]   # recorded under the real names


def test_mock_activity_after_construction_and_unregistered_activities_keyed_by_function():
    # charge is not registered at all: keyed by its @activity.defn function, the mock serves its name.
    with WorkflowEnvironment(workflows=[checkout], activities=[send_email]) as env:
        env.mock_activity(charge, fake_charge)
        env.mock_activity("send_email", lambda to: f"sent to {to}")
        assert env.execute(checkout, ORDER) == {"receipt": "fake-receipt-7", "sent": "sent to ann@example.com"}


def test_a_failing_mock_fails_the_activity_like_the_real_one_would():
    def declined(order: dict) -> str:
        raise aion.ApplicationError("card declined", non_retryable=True)

    with WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email],
                             mocks={"charge": declined}) as env:
        with pytest.raises(aion.WorkflowFailed) as failed:
            env.execute(checkout, ORDER)
        assert "card declined" in str(failed.value.cause)


def test_without_a_mock_the_real_activity_runs():
    with WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email]) as env:
        with pytest.raises(aion.WorkflowFailed) as failed:
            env.execute(checkout, ORDER)
        assert "must not be called from tests" in str(failed.value.cause)


def test_a_mock_for_an_unknown_name_is_refused_with_the_registered_names():
    with pytest.raises(aion.InvalidArgument, match=r"cannot mock activity 'chrage'.*registered: charge, send_email"):
        WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email], mocks={"chrage": fake_charge})
    with WorkflowEnvironment(workflows=[checkout], activities=[charge]) as env:
        with pytest.raises(aion.InvalidArgument, match="no activity of that name is registered"):
            env.mock_activity("refund", fake_charge)
        with pytest.raises(aion.InvalidArgument, match="must be a function"):
            env.mock_activity("charge", "not callable")
        assert env.engine.list() == []   # nothing was started or recorded


def test_mocked_runs_still_skip_time():
    with WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email],
                             mocks={charge: fake_charge, send_email: fake_send}) as env:
        before = env.now()
        env.execute(checkout, ORDER)
        assert (env.now() - before).total_seconds() >= DAY
