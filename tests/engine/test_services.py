"""Timers, signals, queries, cancellation, retries, continue-as-new, asyncio inside workflows."""

import asyncio

import pytest

import aion_actors as aion
from aion_actors import activity, workflow

from tests.engine.conftest import record_effect as bump
from tests.waiting import wait_for


@activity.defn
def flaky(name: str, failures: int) -> str:
    attempt = activity.info().attempt
    bump(name)
    if attempt <= failures:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@activity.defn
def refuse(name: str) -> None:
    bump(name)
    raise aion.ApplicationError("card declined", non_retryable=True)


@activity.defn
def slow(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "slow done"


@workflow.defn
async def approval(limit: float) -> dict:
    state = {"stage": "waiting"}
    workflow.set_query_handler("status", lambda: state)
    workflow.set_query_handler("echo", lambda *args: list(args))
    try:
        decision = await workflow.receive("approve", timeout=limit)
    except TimeoutError:
        state["stage"] = "timed out"
        return state
    state["stage"] = "approved"
    state["by"] = decision["by"]
    second = await workflow.receive("approve")
    state["second"] = second["by"]
    return state


@workflow.defn
async def sleeper(seconds: float) -> str:
    start = workflow.now()
    await workflow.sleep(seconds)
    await asyncio.sleep(seconds)
    return "woke" if workflow.now() > start else "no time passed"


@workflow.defn
async def retrying(failures: int) -> str:
    return await workflow.execute_activity(
        flaky, f"retry-{failures}", failures,
        retry=aion.RetryPolicy(max_attempts=5, initial_interval=0.01, backoff=2.0))


@workflow.defn
async def non_retryable() -> str:
    try:
        await workflow.execute_activity(refuse, "nonretry", retry=aion.RetryPolicy(max_attempts=5, initial_interval=0.01))
    except aion.ActivityError as err:
        return f"{err.attempts}: {err.cause.message}"
    return "no"


@workflow.defn
async def counter(n: int) -> int:
    if n >= 3:
        return n
    workflow.continue_as_new(n + 1)


@workflow.defn
async def cancellable() -> str:
    try:
        await workflow.sleep(3600)
    except aion.CancelledError:
        return "cleaned up"
    return "slept"


@workflow.defn
async def cancel_plain() -> str:
    await workflow.receive("never")
    return "no"


@workflow.defn
async def racing() -> str:
    winner = await workflow.race([workflow.execute_activity(slow, 5.0), workflow.sleep(0.05)])
    return "timer won" if winner is None else str(winner)


@workflow.defn
async def asyncio_features() -> list:
    event = asyncio.Event()
    queue: asyncio.Queue = asyncio.Queue()

    async def producer():
        for i in range(3):
            await queue.put(i)
            await asyncio.sleep(0.01)
        event.set()

    task = asyncio.create_task(producer())
    await event.wait()
    await task
    got = [queue.get_nowait() for _ in range(queue.qsize())]
    try:
        await asyncio.wait_for(workflow.receive("nothing"), timeout=0.02)
    except TimeoutError:
        got.append("timeout")
    rolls = [workflow.random(), str(workflow.uuid4())]
    got.append(len(rolls))
    return got


def test_signal_then_query(make_engine):
    engine = make_engine([approval])
    handle = engine.start(approval, 30)
    assert handle.query("status") == {"stage": "waiting"}
    assert handle.query("echo", 1, "two") == [1, "two"]
    handle.signal("approve", {"by": "alice"})
    handle.signal("approve", {"by": "bob"})
    result = handle.result(timeout=10)
    assert result == {"stage": "approved", "by": "alice", "second": "bob"}
    kinds = [e.type_name for e in handle.history()]
    assert kinds.count("SignalReceived") == 2


def test_receive_timeout_raises_timeout_error(make_engine):
    engine = make_engine([approval])
    assert engine.start(approval, 0.05).result(timeout=10) == {"stage": "timed out"}


def test_signal_errors(make_engine):
    engine = make_engine([approval])
    with pytest.raises(aion.WorkflowNotFound):
        aion.WorkflowHandle(engine, "nope").signal("approve", {})
    handle = engine.start(approval, 0.01)
    handle.result(timeout=10)
    before = len(handle.history())
    with pytest.raises(aion.NotRunning):
        handle.signal("approve", {"by": "late"})
    assert len(handle.history()) == before
    with pytest.raises(aion.PayloadError):
        handle.signal("approve", {"by": object()})


def test_query_errors(make_engine):
    engine = make_engine([approval])
    handle = engine.start(approval, 30)
    with pytest.raises(aion.UnknownQuery) as info:
        handle.query("nope")
    assert "status" in str(info.value)
    handle.cancel("done testing")
    with pytest.raises(aion.WorkflowCancelled):
        handle.result(timeout=10)
    with pytest.raises(aion.NotRunning):
        handle.query("status")


def test_durable_sleep_and_asyncio_sleep(make_engine):
    engine = make_engine([sleeper])
    handle = engine.start(sleeper, 0.05)
    assert handle.result(timeout=10) == "woke"
    kinds = [e.type_name for e in handle.history()]
    assert kinds.count("TimerStarted") == 2 and kinds.count("TimerFired") == 2


def test_retries_until_success(make_engine, effects):
    engine = make_engine([retrying], [flaky])
    handle = engine.start(retrying, 2)
    assert handle.result(timeout=10) == "ok after 3"
    failed = [e.event for e in handle.history() if e.type_name == "ActivityFailed"]
    assert [(f.attempt, f.kind) for f in failed] == [(1, "retryable"), (2, "retryable")]
    assert effects.count("retry-2") == 3


def test_retries_exhausted(make_engine, effects):
    engine = make_engine([retrying], [flaky])
    with pytest.raises(aion.WorkflowFailed) as info:
        engine.start(retrying, 10).result(timeout=10)
    assert "after 5 attempts" in info.value.cause.message


def test_non_retryable_application_error_stops_retries(make_engine, effects):
    engine = make_engine([non_retryable], [refuse])
    assert engine.start(non_retryable).result(timeout=10) == "1: card declined"
    assert effects.count("nonretry") == 1


def test_continue_as_new_follows_the_chain(make_engine):
    engine = make_engine([counter])
    handle = engine.start(counter, 0)
    assert handle.result(timeout=10) == 3
    assert handle.describe().run_count == 4
    kinds = [e.type_name for e in handle.history()]
    assert kinds.count("WorkflowContinuedAsNew") == 3


def test_cancel_raises_cancelled_error_for_cleanup(make_engine):
    engine = make_engine([cancellable, cancel_plain])
    handle = engine.start(cancellable)
    handle.cancel("stop")
    assert handle.result(timeout=10) == "cleaned up"
    plain = engine.start(cancel_plain)
    plain.cancel("user asked")
    with pytest.raises(aion.WorkflowCancelled) as info:
        plain.result(timeout=10)
    assert info.value.reason == "user asked"


def test_race_cancels_the_loser_and_records_nothing_late(make_engine):
    engine = make_engine([racing], [slow])
    handle = engine.start(racing)
    assert handle.result(timeout=10) == "timer won"
    kinds = [e.type_name for e in handle.history()]
    assert "ActivityCancelled" in kinds and "ActivityCompleted" not in kinds


def test_plain_asyncio_inside_workflows(make_engine):
    engine = make_engine([asyncio_features])
    assert engine.start(asyncio_features).result(timeout=10) == [0, 1, 2, "timeout", 2]


@activity.defn
def long_job(total: int) -> dict:
    info = activity.info()
    start = (info.heartbeat_details or {}).get("done", 0)
    for done in range(start, total):
        activity.heartbeat({"done": done + 1, "total": total})
        if info.attempt == 1 and done + 1 == 3:
            raise ConnectionError("lost the connection half way")
    return {"started_at": start, "attempt": info.attempt}


@workflow.defn
async def resumable(total: int) -> dict:
    return await workflow.execute_activity(long_job, total, retry=aion.RetryPolicy(initial_interval=0.01))


def test_heartbeat_details_reach_the_next_attempt(make_engine):
    engine = make_engine([resumable], [long_job])
    handle = engine.start(resumable, 5)
    assert handle.result(timeout=10) == {"started_at": 3, "attempt": 2}
    beats = [e.event for e in handle.history() if e.type_name == "ActivityHeartbeat"]
    assert beats and beats[0].attempt == 1


@workflow.defn
async def reminders() -> list:
    first = workflow.start_timer("first", 0.02)
    second = workflow.start_timer("second", 3600)
    await first
    second.cancel()
    settled = await workflow.all_settled([workflow.execute_activity(flaky, "settle", 0),
                                          workflow.execute_activity(refuse, "settle-no")])
    try:
        await workflow.with_timeout(0.02, workflow.receive("never"))
    except TimeoutError:
        timed_out = True
    return [first.timer_id, second.timer_id, [ok for ok, _ in settled], timed_out]


def test_named_timers_all_settled_and_with_timeout(make_engine, effects):
    engine = make_engine([reminders], [flaky, refuse])
    handle = engine.start(reminders)
    assert handle.result(timeout=10) == ["1:first", "2:second", [True, False], True]
    kinds = [(e.type_name, getattr(e.event, "timer_id", None)) for e in handle.history()]
    assert ("TimerCancelled", "2:second") in kinds and ("TimerFired", "1:first") in kinds
    assert handle.describe().pending_timers == ()


@activity.defn(executor="process")
def in_worker_process(n: int) -> list:
    import os

    return [os.getpid(), sum(i * i for i in range(n))]


@workflow.defn
async def cpu_bound(n: int) -> list:
    return await workflow.execute_activity(in_worker_process, n)


def test_process_executor_runs_the_activity_in_another_process(make_engine):
    import os

    engine = make_engine([cpu_bound], [in_worker_process])
    pid, total = engine.start(cpu_bound, 1000).result(timeout=60)
    assert total == sum(i * i for i in range(1000))
    assert pid != os.getpid()


def test_process_executor_refuses_what_cannot_be_imported_by_name():
    with pytest.raises(aion.InvalidArgument):
        @activity.defn(executor="process")
        async def not_sync() -> None:
            pass
    with pytest.raises(aion.InvalidArgument):
        @activity.defn(executor="fiber")
        def unknown() -> None:
            pass


@workflow.defn
async def timer_loses_race() -> list:
    t = workflow.start_timer("t", 2.0)  # room for the signal sent at start to win, even on a loaded machine
    await workflow.race([workflow.receive("go"), t])
    # Due after t: the wheel fires timers in due order, so a t still armed would fire first.
    await workflow.sleep(2.2)
    await workflow.receive("finish")
    return [t.timer_id]


def test_a_timer_that_loses_a_race_is_cancelled_and_never_fires(make_engine):
    engine = make_engine([timer_loses_race])
    handle = engine.start(timer_loses_race)
    handle.signal("go")
    handle.signal("finish")
    assert handle.result(timeout=10) == ["1:t"]
    kinds = [(e.type_name, getattr(e.event, "timer_id", None)) for e in handle.history()]
    assert ("TimerCancelled", "1:t") in kinds and ("TimerFired", "1:t") not in kinds


@workflow.defn
async def continues_with_a_pending_timer(n: int) -> int:
    if n == 0:
        workflow.start_timer("stale", 3600)
        await workflow.sleep(0)
        workflow.continue_as_new(1)
    return n


def test_continue_as_new_cancels_the_previous_runs_timers(make_engine):
    engine = make_engine([continues_with_a_pending_timer])
    handle = engine.start(continues_with_a_pending_timer, 0)
    assert handle.result(timeout=10) == 1
    assert handle.describe().pending_timers == ()


@activity.defn(executor="process")
def spin_forever(_: int) -> None:
    while True:
        pass


@workflow.defn
async def spinning() -> None:
    await workflow.execute_activity(spin_forever, 0)


def test_closing_the_engine_stops_a_busy_worker_process(store_url):
    engine = aion.Engine(store=store_url, workflows=[spinning], activities=[spin_forever]).open()
    engine.start(spinning)
    processes = engine._runtime.context.activities.processes
    # A worker reports its pid as the attempt's code begins: from then on it spins.
    wait_for(lambda: any(pipe.pid for pipe in list(processes._pipes.values())), "the attempt to spin in a worker",
             timeout=60)
    workers = processes.worker_processes()
    engine.close()  # before the fix this waited forever for the spinning attempt
    assert workers and not any(w.is_alive() for w in workers)
