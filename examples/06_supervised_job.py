"""06 — Supervised work: a long job that survives a crash, and a tree of your own actors.

Part 1, a durable job. `process_batch` works through 1,000 items and calls
`activity.heartbeat({"done": n, "total": 1000})` as it goes. The engine
records the last heartbeat (at most one a second) and hands it to the next
attempt as `activity.info().heartbeat_details`, so a retry resumes where the
last one got to instead of starting over. Here the first attempt kills its
own process with SIGKILL at item 600 — as a crashed machine or an OOM kill
would. With `Engine(runtime="local")` every attempt runs in its own OS
process: the engine notices the death at once, records the attempt as
failed, and the `RetryPolicy` starts attempt 2, which resumes from the last
recorded heartbeat. Items between that heartbeat and the crash are done
twice: activities are at-least-once, so make them idempotent.

Part 2, your own supervision tree. `supervisors` is an OTP-style library
you can use for any long-running actors, not just workflows. A
`one_for_one` supervisor keeps a `Counter` and a `Fetcher` running; when
the fetcher crashes (an exception escapes `receive`), only it is restarted,
with its start message, and the counter keeps its state — as Erlang/OTP
does. More than `intensity` restarts within `period` seconds and the
supervisor gives up and escalates to its own supervisor.

    python examples/06_supervised_job.py

You see the job's attempts (the first killed at item 600, the second resuming
from its last heartbeat), the result, then the tree before and after the
fetcher's crash: the fetcher has a new address and one restart; the counter
kept its count.
"""

import os
import signal
import time

import aion_actors as aion
from aion_actors import activity, workflow
from supervisors import (ChildSpec, Configure, LinkedActor, Start, Supervisor, SupervisorSpec,
                         WhichChildren)
from thespian.actors import ActorSystem

TOTAL, CRASH_AT = 1_000, 600


@activity.defn
def process_batch(total: int) -> dict:
    info = activity.info()
    start = (info.heartbeat_details or {}).get("done", 0)
    for item in range(start, total):
        time.sleep(0.003)                                  # the work on one item
        activity.heartbeat({"done": item + 1, "total": total})
        if info.attempt == 1 and item + 1 == CRASH_AT:
            os.kill(os.getpid(), signal.SIGKILL)           # the process dies without a word
    return {"processed": total, "resumed_from": start, "attempt": info.attempt}


@workflow.defn
async def nightly_job(total: int) -> dict:
    return await workflow.execute_activity(
        process_batch, total,
        retry=aion.RetryPolicy(max_attempts=3, initial_interval=0.5),
        heartbeat_timeout=30.0)


def run_the_job(store: str) -> dict:
    with aion.Engine(store=store, runtime="local", workflows=[nightly_job],
                     activities=[process_batch]) as engine:
        handle = engine.start(nightly_job, TOTAL, id=f"nightly-{os.getpid()}")
        result = handle.result(timeout=120)
        attempts = []
        for event in handle.history():
            e = event.event
            if event.type_name == "ActivityStarted":
                attempts.append(f"attempt {e.attempt} started")
            elif event.type_name == "ActivityFailed":
                attempts.append(f"attempt {e.attempt} failed: {e.failure.message}")
        return {"result": result, "attempts": attempts}


class Counter(LinkedActor):
    """Counts what it is told; its state lives as long as it is not restarted."""

    def receive(self, msg, sender):
        if msg == "start":
            self.count = 0
        elif msg == "tick":
            self.count += 1
        elif msg == "count":
            self.send(sender, self.count)


class Fetcher(LinkedActor):
    """Crashes on bad input: the supervisor restarts it."""

    def receive(self, msg, sender):
        if msg == "bad url":
            raise ValueError(f"cannot fetch {msg!r}")


def run_a_tree() -> dict:
    tree = SupervisorSpec("one_for_one", intensity=3, period=5.0, children=(
        ChildSpec("counter", Start(Counter, "start")),
        ChildSpec("fetcher", Start(Fetcher), restart="permanent"),
    ))
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        root = system.createActor(Supervisor)
        system.ask(root, Configure(tree), 5)
        before = {c.id: c for c in system.ask(root, WhichChildren(), 5).children}
        for _ in range(3):
            system.tell(before["counter"].address, "tick")
        system.tell(before["fetcher"].address, "bad url")      # crashes; restarted alone
        after = {c.id: c for c in system.ask(root, WhichChildren(), 5).children}
        children = {child_id: {"moved": after[child_id].address != before[child_id].address,
                               "restarts": after[child_id].restarts} for child_id in ("counter", "fetcher")}
        return {"children": children, "count": system.ask(after["counter"].address, "count", 5)}
    finally:
        system.shutdown()


def main(store: str = "sqlite:///aion.db") -> dict:
    print("Part 1: a job that survives a SIGKILL")
    job = run_the_job(store)
    for line in job["attempts"]:
        print(f"  {line}")
    result = job["result"]
    print(f"job done: {result['processed']} items; attempt {result['attempt']} "
          f"resumed from item {result['resumed_from']} (its last recorded heartbeat)")
    print("Part 2: a one_for_one tree restarts the crashed fetcher only")
    tree = run_a_tree()
    for child_id, child in tree["children"].items():
        print(f"  {child_id}: {'new address' if child['moved'] else 'same address'}, "
              f"restarts {child['restarts']}")
    print(f"counter still counts {tree['count']} ticks")
    return {"job": job, "tree": tree}


if __name__ == "__main__":
    main()
