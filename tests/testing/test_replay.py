"""`aion_actors.testing.replay`: recorded histories against current and changed workflow code."""

import pytest

import aion_actors as aion
from aion_actors import workflow
from aion_actors.testing import WorkflowEnvironment, replay

from .workflows import DAY, charge, checkout, send_email


@workflow.defn(name="checkout")
async def checkout_v2(order: dict) -> dict:
    # Changed code: says thanks before the day's wait instead of after it.
    sent = await workflow.execute_activity("send_email", order["email"])
    receipt = await workflow.execute_activity(charge, order)
    await workflow.sleep(DAY)
    return {"receipt": receipt, "sent": sent}


@pytest.fixture(scope="module")
def history():
    with WorkflowEnvironment(workflows=[checkout], activities=[charge, send_email],
                             mocks={charge: lambda order: "r-1", send_email: lambda to: "sent"}) as env:
        handle = env.start(checkout, {"id": 1, "email": "bo@example.com"})
        handle.result(timeout=30)
        return handle.history()


def test_a_recorded_history_replays_against_the_code_that_made_it(history):
    instance = replay(history, checkout)
    assert instance.finished


def test_a_changed_workflow_raises_non_determinism_on_the_old_history(history):
    with pytest.raises(aion.NonDeterminismError, match="non-determinism"):
        replay(history, checkout_v2)
