"""05 — A saga: undo the steps already taken when a later one fails.

An order takes three steps, each an activity with its own side effect:
charge the card, reserve the stock, ship. There is no transaction around
them, so the workflow keeps a list of compensations (refund, release) and,
when a later step fails for good, runs the ones registered so far in
reverse order. Because the workflow is durable, the compensations run even
if the process dies half way: the replay finds the failure in the history
and carries on undoing.

- `retry=aion.RetryPolicy(...)` retries a flaky step (here `reserve`, whose
  first attempt always fails with a `ConnectionError`) with durable backoff;
  each failed attempt is recorded as a retryable `ActivityFailed`.
- Raising `aion.ApplicationError(..., non_retryable=True)` in an activity
  stops its retries whatever the policy: the workflow gets an
  `aion.ActivityError` at once, with the failure as `.cause`.
- `workflow.with_timeout(seconds, ...)` puts a durable deadline on a step;
  when it passes, the step is cancelled and `TimeoutError` is raised, which
  this saga compensates like any other failure.

The steps taken are collected from the activities' return values and
returned by the workflow, not kept in a global list: activities may run on
other threads or, with `Engine(runtime="local")`, in other processes.

    python examples/05_saga.py

You see two orders. The first is charged, reserved (on its second attempt)
and shipped. The second is charged and reserved, then the carrier refuses
its address (one attempt: non-retryable), so the stock is released and the
card refunded. For each, the steps and the failed attempts in the history.
"""

import uuid

import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def charge(order: dict) -> str:
    return f"pay-{order['id']}"


@activity.defn
def reserve(order: dict) -> str:
    if activity.info().attempt == 1:
        raise ConnectionError("inventory service unavailable")     # a transient failure: retried
    return f"res-{order['id']}"


@activity.defn
def ship(order: dict) -> str:
    if order["address"] == "Atlantis":
        raise aion.ApplicationError(f"carrier refuses {order['address']!r}", non_retryable=True)
    return f"trk-{order['id']}"


@activity.defn
def refund(payment: str) -> str:
    return f"refunded {payment}"


@activity.defn
def release(reservation: str) -> str:
    return f"released {reservation}"


QUICK_RETRIES = aion.RetryPolicy(max_attempts=5, initial_interval=0.2)


@workflow.defn
async def place_order(order: dict) -> dict:
    steps: list[str] = []
    compensations = []     # (activity, argument), run in reverse order if a later step fails
    try:
        payment = await workflow.execute_activity(charge, order, start_to_close_timeout=10)
        steps.append(f"charged {order['amount']} EUR: {payment}")
        compensations.append((refund, payment))

        reservation = await workflow.execute_activity(reserve, order, retry=QUICK_RETRIES,
                                                      start_to_close_timeout=10)
        steps.append(f"reserved stock: {reservation}")
        compensations.append((release, reservation))

        tracking = await workflow.with_timeout(2.0, workflow.execute_activity(ship, order, retry=QUICK_RETRIES))
        steps.append(f"shipped: {tracking}")
        return {"order": order["id"], "status": "shipped", "steps": steps}
    except (aion.ActivityError, TimeoutError) as err:
        reason = err.cause.message if isinstance(err, aion.ActivityError) else "shipping deadline passed"
        steps.append(f"failed: {reason}")
        for undo, argument in reversed(compensations):
            steps.append(await workflow.execute_activity(undo, argument, retry=QUICK_RETRIES,
                                                         start_to_close_timeout=10))
        return {"order": order["id"], "status": "compensated", "steps": steps}


def failed_attempts(handle: aion.WorkflowHandle) -> list[str]:
    """The ActivityFailed events of a history, with the activity's name."""
    names, lines = {}, []
    for item in handle.history():
        event = item.event
        if item.type_name == "ActivityScheduled":
            names[event.activity_id] = event.activity_type
        elif item.type_name == "ActivityFailed":
            lines.append(f"{names[event.activity_id]} attempt {event.attempt}: {event.failure} ({event.kind})")
    return lines


def main(store: str = "sqlite:///aion.db") -> dict:
    orders = [{"id": "A1", "amount": 42, "address": "Paris"},
              {"id": "B2", "amount": 17, "address": "Atlantis"}]
    outcomes = {}
    with aion.Engine(store=store, workflows=[place_order],
                     activities=[charge, reserve, ship, refund, release]) as engine:
        for order in orders:
            handle = engine.start(place_order, order, id=f"order-{order['id']}-{uuid.uuid4().hex[:6]}")
            outcome = handle.result(timeout=30)
            print(f"{handle.workflow_id} to {order['address']}: {outcome['status']}")
            for step in outcome["steps"]:
                print(f"  - {step}")
            failures = failed_attempts(handle)
            print("  failed attempts in the history:")
            for line in failures:
                print(f"    {line}")
            outcomes[order["id"]] = {**outcome, "failed_attempts": failures}
    return outcomes


if __name__ == "__main__":
    main()
