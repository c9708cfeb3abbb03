"""A small app the CLI tests serve with `aion worker` / `aion run` in real subprocesses."""

import time

from aion_actors import activity, workflow


@activity.defn
def pack(items: int) -> int:
    for n in range(1, items + 1):
        activity.heartbeat({"done": n, "total": items})
        time.sleep(0.1)
    return items


@workflow.defn
async def order(request: dict) -> dict:
    state = {"stage": "packing"}
    workflow.set_query_handler("status", lambda: state)
    workflow.set_query_handler("echo", lambda *args: list(args))
    packed = await workflow.execute_activity(pack, request["items"], start_to_close_timeout=60)
    state["stage"] = "waiting for approval"
    approval = await workflow.receive("approve")
    state["stage"] = "approved"
    return {"packed": packed, "approved_by": approval["by"]}


@workflow.defn
async def nap(seconds: float) -> str:
    await workflow.sleep(seconds)
    return "woke up"
