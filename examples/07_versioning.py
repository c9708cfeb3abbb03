"""07 — Versioning: change workflow code under running workflows, and let `aion replay` check it.

A workflow that is still running when you deploy new code will be replayed
by the new code: the new code must issue the same commands its history
recorded, or the run fails with a `NonDeterminismError`. Guard a change with
`workflow.patched("change-id")`:

    if workflow.patched("fraud-check"):      # new runs: True (a marker is recorded)
        await workflow.execute_activity(check_fraud, order, ...)
    # runs recorded before the change replay with False: the old path

Here yesterday's code charges an order and waits for a "ship" signal. One
order is mid-way when today's code, with a fraud check, is deployed. It
finishes on the old path, while a new order takes the new one. Then
`aion replay` replays every stored history against today's file: all ok.
The same check on a careless version (the fraud check added without
`patched`) reports the old order as diverged — run it before deploying.

    python examples/07_versioning.py
    aion replay --all --app examples/07_versioning.py   # exit 0: today's code replays every history

Try the careless change yourself: delete the `if workflow.patched(...)`
line (keep its body, unindented) and run `aion replay` again: it exits 1.
Later, once no old run is left, replace the `if` with
`workflow.deprecate_patch("fraud-check")` and delete the old path.
"""

import subprocess
import sys
import time

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.replayer import replay


@activity.defn
def charge(order: dict) -> str:
    return f"charged {order['amount']} EUR"


@activity.defn
def check_fraud(order: dict) -> str:
    return "fraud check passed"


@activity.defn
def ship(order: dict) -> str:
    return f"shipped {order['id']}"


async def _step(fn, order: dict) -> str:
    return await workflow.execute_activity(fn, order, start_to_close_timeout=10)


@workflow.defn
async def shipping(order: dict) -> list:
    """Today's code: a fraud check after the charge, for new runs only."""
    steps = [await _step(charge, order)]
    if workflow.patched("fraud-check"):
        steps.append(await _step(check_fraud, order))
    await workflow.receive("ship")
    steps.append(await _step(ship, order))
    return steps


def yesterdays_code():
    """The workflow as it was deployed before the change (kept out of the module's names)."""
    @workflow.defn(name="shipping")
    async def shipping(order: dict) -> list:
        steps = [await _step(charge, order)]
        await workflow.receive("ship")
        steps.append(await _step(ship, order))
        return steps
    return shipping


def careless_code():
    """Today's change made without `patched`: new runs are fine, old histories are not."""
    @workflow.defn(name="shipping")
    async def shipping(order: dict) -> list:
        steps = [await _step(charge, order), await _step(check_fraud, order)]
        await workflow.receive("ship")
        steps.append(await _step(ship, order))
        return steps
    return shipping


ACTIVITIES = [charge, check_fraud, ship]


def main(store: str = "sqlite:///aion.db") -> dict:
    old_order, new_order = {"id": "A-1", "amount": 30}, {"id": "B-2", "amount": 45}
    with aion.Engine(store=store, workflows=[yesterdays_code()], activities=ACTIVITIES) as engine:
        old = engine.start("shipping", old_order)
        while "ActivityCompleted" not in [e.type_name for e in old.history()]:
            time.sleep(0.01)  # charged; now it waits for "ship" — and we deploy new code under it
        print(f"yesterday: {old.workflow_id} charged, waiting for 'ship'; deploying the fraud check")

    with aion.Engine(store=store, workflows=[shipping], activities=ACTIVITIES) as engine:
        old = engine.get_handle(old.workflow_id)
        new = engine.start(shipping, new_order)
        for handle in (old, new):
            handle.signal("ship")
        results = {"old": old.result(timeout=30), "new": new.result(timeout=30)}
        print(f"today: {old.workflow_id} (started yesterday) -> {results['old']}")
        print(f"today: {new.workflow_id} (started today)     -> {results['new']}")
        history = old.history()

    checked = subprocess.run([sys.executable, "-m", "aion_actors.cli", "replay", "--all", "--app", __file__,
                              "--store", store], capture_output=True, text=True)
    print(f"$ aion replay --all --app {__file__}\n{checked.stdout.rstrip()}")
    try:
        replay(history, careless_code(), activities=ACTIVITIES)
        careless = "ok"
    except aion.NonDeterminismError as exc:
        careless = str(exc)
    print(f"the careless version on {old.workflow_id}'s history: {careless}")
    return {"results": results, "replay_exit_code": checked.returncode, "replay_output": checked.stdout,
            "careless": careless, "old_id": old.workflow_id}


if __name__ == "__main__":
    main()
