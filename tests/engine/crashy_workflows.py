"""Workflows, activities and child-process entry points for the crash/recovery tests.

Activities record their side effects by appending a line to the file named
by `AION_TEST_EFFECTS` (an O_APPEND write reaches the kernel before the call
returns, so it survives SIGKILL). With `AION_TEST_HOLD_SLOW=1`, `slow_step`
blocks (well past any test's deadline) after writing `start:NAME`, so a kill
is guaranteed to land while that activity is running; without it the
activity sleeps the seconds it was given and writes `end:NAME`.

The child process (see `serve` / `recover`) is started by the tests as
`python -c "from tests.engine.crashy_workflows import main; main()" MODE PLAN_JSON`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import aion_actors as aion
from aion_actors import activity, workflow

EFFECTS_ENV = "AION_TEST_EFFECTS"
HOLD_ENV = "AION_TEST_HOLD_SLOW"
SLOW_SECONDS = 0.2
_HOLD_SECONDS = 600.0


def effect(line: str) -> None:
    fd = os.open(os.environ[EFFECTS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


# -- activities ----------------------------------------------------------------


@activity.defn
def step(name: str) -> str:
    effect(name)
    return name


@activity.defn
def slow_step(name: str, seconds: float) -> str:
    effect(f"start:{name}")
    if os.environ.get(HOLD_ENV) == "1":
        deadline = time.monotonic() + _HOLD_SECONDS
        while time.monotonic() < deadline:  # the test kills the process meanwhile
            time.sleep(0.05)
        raise RuntimeError("slow_step was held but the process was never killed")
    time.sleep(seconds)
    effect(f"end:{name}")
    return name


@activity.defn
def fail_first(name: str) -> str:
    """Fails its first attempt (retryable), succeeds on any later one."""
    attempt = activity.info().attempt
    effect(f"{name}:{attempt}")
    if attempt == 1:
        raise ConnectionError("first attempt fails")
    return name


# -- workflows -----------------------------------------------------------------


@workflow.defn
async def crash_pipeline(tag: str) -> list:
    """Three sequential steps; the second is slow (the kill lands in it)."""
    a = await workflow.execute_activity(step, f"{tag}-a")
    b = await workflow.execute_activity(slow_step, f"{tag}-slow", SLOW_SECONDS)
    c = await workflow.execute_activity(step, f"{tag}-c")
    return [a, b, c]


@workflow.defn
async def crash_nap(args: dict) -> list:
    """A step, a durable sleep (the kill lands in it), another step."""
    tag = args["tag"]
    a = await workflow.execute_activity(step, f"{tag}-a")
    await workflow.sleep(args["seconds"])
    b = await workflow.execute_activity(step, f"{tag}-b")
    return [a, b]


@workflow.defn
async def crash_gated(tag: str) -> dict:
    """Waits for the signal `go`, then a slow step named after its payload, then a step."""
    got = await workflow.receive("go")
    slow = await workflow.execute_activity(slow_step, f"{tag}-slow-{got['by']}", SLOW_SECONDS)
    done = await workflow.execute_activity(step, f"{tag}-done")
    return {"by": got["by"], "steps": [slow, done]}


@workflow.defn
async def crash_slow_first(tag: str) -> list:
    """Its very first activity is slow: a kill right after start() lands before it finishes."""
    first = await workflow.execute_activity(slow_step, f"{tag}-first", SLOW_SECONDS)
    second = await workflow.execute_activity(step, f"{tag}-second")
    return [first, second]


@workflow.defn
async def crash_backoff(args: dict) -> str:
    """An activity whose retry waits `backoff` seconds (a durable timer): the kill lands in the wait."""
    return await workflow.execute_activity(
        fail_first, args["tag"],
        retry=aion.RetryPolicy(max_attempts=3, initial_interval=args["backoff"], backoff=1.0))


@workflow.defn
async def crash_parent(tag: str) -> list:
    """A parent whose child is mid-activity when the kill lands."""
    before = await workflow.execute_activity(step, f"{tag}-before")
    child = await workflow.execute_child(crash_slow_first, f"{tag}-kid")
    return [before, child]


@workflow.defn
async def crash_deadline(args: dict) -> str:
    """A slow activity under a schedule_to_close timeout: the kill lands before the deadline."""
    try:
        return await workflow.execute_activity(slow_step, args["tag"], args["seconds"],
                                               schedule_to_close_timeout=args["deadline"])
    except aion.ActivityError as exc:
        return f"gave up: {exc.cause.message if exc.cause else exc}"


WORKFLOWS = [crash_pipeline, crash_nap, crash_gated, crash_slow_first, crash_backoff, crash_parent, crash_deadline]
ACTIVITIES = [step, slow_step, fail_first]


def open_engine(store: str) -> aion.Engine:
    return aion.Engine(store=store, workflows=WORKFLOWS, activities=ACTIVITIES)


# -- child process entry points ------------------------------------------------


def _describe(item) -> str:
    e = item.event
    extra = ""
    if item.type_name == "TimerStarted":
        extra = f" {e.timer_id} {e.fire_at.timestamp()!r}"
    elif item.type_name == "ActivityStarted":
        extra = f" {e.activity_id} {e.attempt}"
    return f"{item.workflow_id} {item.type_name}{extra}"


def serve(plan: dict) -> None:
    """Open an engine (resuming what is running), run the plan's actions, then report progress forever.

    Actions: ["start", TYPE, INPUT, ID], ["signal", ID, NAME, PAYLOAD], ["selfkill"]
    (SIGKILL our own process group right there, e.g. just after start() returned).
    Every new history event of `plan["watch"]` ids is appended to `plan["progress"]`
    as "ID TYPE [details]"; "ready" is written once the actions are done.
    """
    progress = plan["progress"]

    def report(line: str) -> None:
        with open(progress, "a") as f:
            f.write(line + "\n")

    engine = open_engine(plan["store"]).open()
    report(f"opened resumed={engine.resumed}")
    for action in plan.get("actions", []):
        if action[0] == "start":
            engine.start(action[1], action[2], id=action[3])
        elif action[0] == "signal":
            engine.get_handle(action[1]).signal(action[2], action[3])
        elif action[0] == "selfkill":
            report("selfkill")
            os.killpg(os.getpgid(0), signal.SIGKILL)
        else:
            raise ValueError(f"unknown action {action!r}")
    report("ready")
    seen = {wid: 0 for wid in plan["watch"]}
    while True:  # until killed
        for wid in seen:
            try:
                history = engine.get_handle(wid).history()
            except aion.WorkflowNotFound:
                continue
            for item in history[seen[wid]:]:
                report(_describe(item))
            seen[wid] = len(history)
        time.sleep(0.02)


def recover(plan: dict) -> None:
    """Open an engine on the store, wait for each id's result, write them as JSON, close cleanly."""
    opened_at = time.time()
    out: dict = {"opened_at": opened_at, "results": {}}
    with open_engine(plan["store"]) as engine:
        out["resumed"] = engine.resumed
        for wid in plan["ids"]:
            try:
                out["results"][wid] = {"ok": engine.get_handle(wid).result(timeout=plan.get("timeout", 30))}
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                out["results"][wid] = {"error": f"{type(exc).__name__}: {exc}"}
    with open(plan["out"], "w") as f:
        json.dump(out, f)


def main() -> None:
    mode, plan = sys.argv[1], json.loads(sys.argv[2])
    {"serve": serve, "recover": recover}[mode](plan)
