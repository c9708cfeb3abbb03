"""03 — Timers: reminders that survive a restart, and one that is cancelled.

A workflow that has to act later just waits: `workflow.start_timer(name,
seconds)` starts a named durable timer and returns a `Timer` to await or
`.cancel()`. Starting it records `TimerStarted` (with its id,
`<ordinal>:<name>`, and the time it is due); it ends with `TimerFired` or
`TimerCancelled`. `workflow.now()` is the workflow's clock: the recorded
time of the event that woke it, the same on every replay.

Timers are durable. The due time is in the store, not in a process: here
the engine is closed right after the workflow starts, as if the machine
restarted, and a new engine opened on the same `aion.db` re-arms the timers
from the store. The reminder fires on time anyway, and a "done" signal that
arrives before the escalation is due cancels it.

    python examples/03_timers.py

You see the engine close and reopen, the workflow's log (the reminder at
about +0.5 s of workflow time, then "done" cancelling the escalation),
which timer fired and which was cancelled, and the timer events of the
history with their ids.
"""

import asyncio
import time
import uuid

import aion_actors as aion
from aion_actors import workflow


@workflow.defn
async def reminders(task: dict) -> dict:
    started = workflow.now()
    log: list[str] = []
    workflow.set_query_handler("log", lambda: log)

    def stamp(line: str) -> None:
        elapsed = (workflow.now() - started).total_seconds()
        log.append(f"+{elapsed:.1f}s {line}")

    reminder = workflow.start_timer("reminder", task["remind_after"])
    escalation = workflow.start_timer("escalate", task["escalate_after"])
    escalated = False

    async def escalate_when_due() -> None:
        nonlocal escalated
        await escalation                  # raises CancelledError instead if it is cancelled first
        escalated = True
        stamp("escalated: nobody finished it in time")

    asyncio.create_task(escalate_when_due())   # plain asyncio works in workflows, and replays

    await reminder
    stamp(f"reminder: {task['title']!r} is still open")

    finished_by = await workflow.receive("done")
    if not escalated:
        escalation.cancel()               # records TimerCancelled: the escalation will never fire
    stamp(f"done by {finished_by}" + ("" if escalated else "; escalation cancelled"))
    if escalated:
        return {"log": log, "fired": [reminder.timer_id, escalation.timer_id], "cancelled": []}
    return {"log": log, "fired": [reminder.timer_id], "cancelled": [escalation.timer_id]}


def main(store: str = "sqlite:///aion.db") -> dict:
    workflow_id = f"task-{uuid.uuid4().hex[:6]}"
    task = {"title": "file the expense report", "remind_after": 0.5, "escalate_after": 30}

    with aion.Engine(store=store, workflows=[reminders]) as engine:
        handle = engine.start(reminders, task, id=workflow_id)
        print(f"{workflow_id} started: reminder in {task['remind_after']} s, escalation in "
              f"{task['escalate_after']} s")
        while len(handle.describe().pending_timers) < 2:    # until both TimerStarted are committed
            time.sleep(0.01)
        print(f"  pending timers in the store: {[timer_id for timer_id, _ in handle.describe().pending_timers]}")
    print("engine closed (as in a restart): the timers are in the store, not in this process")

    with aion.Engine(store=store, workflows=[reminders]) as engine:
        print(f"engine reopened: resumed {engine.resumed} workflow(s), re-armed their timers from the store")
        handle = engine.get_handle(workflow_id)
        while not handle.query("log"):           # wait for the reminder (a query records nothing)
            time.sleep(0.05)
        time.sleep(0.3)                          # carol finishes a little later
        handle.signal("done", "carol")
        result = handle.result(timeout=30)
        for line in result["log"]:
            print(f"  {line}")
        print(f"fired: {result['fired']}, cancelled: {result['cancelled']}")
        timer_events = [(event.type_name, event.event.timer_id) for event in handle.history()
                        if event.type_name.startswith("Timer")]
        print("timer events in the history:")
        for kind, timer_id in timer_events:
            print(f"  {kind:<15} {timer_id}")
        return {**result, "timer_events": timer_events}


if __name__ == "__main__":
    main()
