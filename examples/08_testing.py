"""08 — Testing workflows: a month in milliseconds, fake activities, replayed histories.

A workflow that waits two weeks for a trial to end cannot be tested by
waiting two weeks. `aion_actors.testing.WorkflowEnvironment` runs an
engine (in memory by default) on a virtual clock, with three tools:

- Time skipping: while you wait on a result (`env.execute(...)`,
  `handle.result()`), virtual time jumps straight to the next timer
  whenever the engine has nothing else to do. Sleeps, `receive` timeouts
  and retry backoffs take no wall time, yet every recorded time and
  `workflow.now()` is as if they had. It never jumps while an activity
  runs, so a slow activity is not cut short by its own timeout. Between
  waits, `env.sleep(seconds)` moves virtual time on step by step, firing
  each timer at its due time, so you can look at a run half way.
- Activity mocks: `mocks={"charge_card": fake}` (or `env.mock_activity`)
  serves `fake` under the activity's name. The workflow code is not
  touched; the history records the real names.
- `replay(history, workflow)`: re-runs a recorded history against the
  workflow code and raises `NonDeterminismError` where the code no longer
  makes the recorded decisions. Keep histories of real runs and replay
  them in CI before you deploy changed workflow code.

In pytest, the `aion_env` fixture (installed with the package) opens one
for you and closes it after the test:

    def test_trial(aion_env):
        env = aion_env(workflows=[trial], activities=[charge_card, send_receipt],
                       mocks={"charge_card": lambda customer, cents: "ch_1",
                              "send_receipt": lambda customer, charge: "sent"})
        assert env.execute(trial, {"customer": "ann", "cents": 900})["charge"] == "ch_1"

    python examples/08_testing.py

You see the first run end after 14 days and 1 hour of virtual time (the
charge failed once and was retried an hour later) in a few milliseconds of
wall time, what the fakes were called with, the second run seen half way
through its trial (still in it) and after 15 days (completed), and the
first run's history replayed: accepted by the workflow that made it,
refused by a changed one.
"""

import time
import uuid

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.testing import WorkflowEnvironment, replay

DAY = 86_400
HOURLY = aion.RetryPolicy(initial_interval=3600, max_attempts=5)


@activity.defn
def charge_card(customer: str, cents: int) -> str:
    raise NotImplementedError("the payment provider is not part of this example: its tests use a fake")


@activity.defn
def send_receipt(customer: str, charge: str) -> str:
    raise NotImplementedError("the mail server is not part of this example: its tests use a fake")


@workflow.defn
async def trial(signup: dict) -> dict:
    stage = "trial"
    workflow.set_query_handler("stage", lambda: stage)
    started = workflow.now()
    await workflow.sleep(14 * DAY)
    stage = "charging"
    charge = await workflow.execute_activity(charge_card, signup["customer"], signup["cents"], retry=HOURLY)
    await workflow.execute_activity(send_receipt, signup["customer"], charge)
    stage = "subscribed"
    return {"charge": charge, "days": round((workflow.now() - started).total_seconds() / DAY, 3)}


@workflow.defn(name="trial")
async def trial_charging_first(signup: dict) -> dict:
    # A changed version: it charges before the trial ends. Running trials recorded the sleep first.
    charge = await workflow.execute_activity(charge_card, signup["customer"], signup["cents"], retry=HOURLY)
    await workflow.sleep(14 * DAY)
    await workflow.execute_activity(send_receipt, signup["customer"], charge)
    return {"charge": charge, "days": 14.0}


def main(store: str = "sqlite:///aion.db") -> dict:
    calls: list[str] = []

    def fake_charge(customer: str, cents: int) -> str:
        calls.append(f"charge {customer} {cents}")
        if activity.info().attempt == 1:
            raise ConnectionError("payment provider unavailable")   # retried an hour later
        return f"ch_{customer}"

    def fake_receipt(customer: str, charge: str) -> str:
        calls.append(f"receipt {customer} {charge}")
        return "sent"

    mocks = {"charge_card": fake_charge, "send_receipt": fake_receipt}
    with WorkflowEnvironment(workflows=[trial], activities=[charge_card, send_receipt], mocks=mocks,
                             store=store) as env:
        wall = time.monotonic()
        first = env.start(trial, {"customer": "ann", "cents": 900}, id=f"trial-{uuid.uuid4().hex[:6]}")
        result = first.result(timeout=30)
        wall_ms = (time.monotonic() - wall) * 1000
        print(f"{first.workflow_id}: {result} after {result['days']} virtual days, "
              f"{wall_ms:.0f} ms of wall time")
        first_calls = list(calls)
        print(f"  the fakes were called: {first_calls}")

        second = env.start(trial, {"customer": "bob", "cents": 900}, id=f"trial-{uuid.uuid4().hex[:6]}")
        env.sleep(13 * DAY)
        halfway = second.query("stage")
        env.sleep(2 * DAY)
        after = second.describe().status.value    # the fake charge failed once here too: 14 days and 1 hour
        second_result = second.result(timeout=30)
        print(f"{second.workflow_id}: after 13 days its stage is {halfway!r}; after 15 days it is {after}: "
              f"{second_result}")

        history = first.history()
        replay(history, trial)
        print(f"replaying {first.workflow_id}'s {len(history)} events with trial: OK")
        try:
            replay(history, trial_charging_first)
            refused = ""
        except aion.NonDeterminismError as exc:
            refused = str(exc)
            print(f"with trial_charging_first: {refused.splitlines()[0]}")
        return {"result": result, "wall_ms": wall_ms, "calls": first_calls, "halfway": halfway, "after": after,
                "second": second_result, "history": [e.type_name for e in history], "refused": refused}


if __name__ == "__main__":
    main()
