"""02 — Signals and queries: an approval gate.

A workflow often has to wait for people. Here an expense report needs two
"approve" signals, each within a deadline, and anyone can ask it for its
"status" with a query while it waits:

- `handle.signal("approve", payload)` records `SignalReceived` in the
  workflow's history *before* delivering it, so an acknowledged signal is
  never lost: if the process dies right after, the next engine replays it.
- `await workflow.receive("approve", timeout=...)` is durable and
  selective: the k-th `receive("approve")` gets the k-th "approve" signal,
  whenever it arrived. A signal of another name (here a "comment" sent
  first) waits in the history until code asks for it. With `timeout=`, a
  durable timer is started, and if it fires first the built-in
  `TimeoutError` is raised in the workflow, which decides what that means.
- `handle.query("status")` runs the handler the workflow registered with
  `workflow.set_query_handler` on its live state, and records nothing: no
  event in the history mentions the queries.

    python examples/02_signals_and_queries.py

You see two runs. The first gets its two approvals: its status before,
between and after them, its outcome, and its history (the three signals,
and a timer started and cancelled for each `receive` with a timeout; no
query). The second gets none: after 1 s its first `receive` times out and
it returns a "timed out" outcome (its history has `TimerFired`).
"""

import uuid

import aion_actors as aion
from aion_actors import workflow

APPROVALS_NEEDED = 2


@workflow.defn
async def expense_approval(request: dict) -> dict:
    state = {"stage": "waiting for approval", "approved_by": []}
    workflow.set_query_handler("status", lambda: state)

    for _ in range(APPROVALS_NEEDED):
        try:
            decision = await workflow.receive("approve", timeout=request["wait_seconds"])
        except TimeoutError:
            state["stage"] = "timed out"
            return {"outcome": "timed out", "amount": request["amount"], "approved_by": state["approved_by"]}
        state["approved_by"].append(decision["by"])
        missing = APPROVALS_NEEDED - len(state["approved_by"])
        state["stage"] = f"waiting for {missing} more approval" if missing else "approved"

    # Sent before any approval, the comment waited in the history until now.
    comment = await workflow.receive("comment")
    return {"outcome": "approved", "amount": request["amount"], "approved_by": state["approved_by"],
            "comment": comment}


def new_id() -> str:
    return f"expense-{uuid.uuid4().hex[:6]}"


def main(store: str = "sqlite:///aion.db") -> dict:
    with aion.Engine(store=store, workflows=[expense_approval]) as engine:
        # 1. Approved: two signals arrive while it waits.
        approved = engine.start(expense_approval, {"amount": 120, "wait_seconds": 30}, id=new_id())
        print(f"{approved.workflow_id}: 120 EUR, needs {APPROVALS_NEEDED} approvals within 30 s each")
        statuses = [approved.query("status")]
        print(f"  status: {statuses[-1]}")
        approved.signal("comment", "receipt attached")    # not what it waits for: it waits in the history
        approved.signal("approve", {"by": "alice"})
        statuses.append(approved.query("status"))
        print(f"  signal approve(alice) -> status: {statuses[-1]}")
        approved.signal("approve", {"by": "bob"})
        first = approved.result(timeout=30)
        print(f"  signal approve(bob)   -> outcome: {first}")
        first_history = [event.type_name for event in approved.history()]
        print(f"  history: {', '.join(first_history)}")

        # 2. Timed out: nobody approves within 1 s.
        ignored = engine.start(expense_approval, {"amount": 75, "wait_seconds": 1.0}, id=new_id())
        print(f"{ignored.workflow_id}: 75 EUR, needs {APPROVALS_NEEDED} approvals within 1 s each")
        print(f"  status: {ignored.query('status')}")
        second = ignored.result(timeout=30)
        print(f"  no signal for 1 s     -> outcome: {second}")
        second_history = [event.type_name for event in ignored.history()]
        print(f"  history: {', '.join(second_history)}")
        return {"approved": first, "timed_out": second, "statuses": statuses,
                "histories": [first_history, second_history]}


if __name__ == "__main__":
    main()
