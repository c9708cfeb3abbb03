"""01 — Hello: a workflow that calls one activity.

A workflow is deterministic orchestration; an activity is where side effects
happen. The engine records each step in a history (here in ./aion.db), so
if the process dies mid-way, the next run resumes where it was and never
repeats a completed activity.

    python examples/01_hello.py
"""

import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
async def hello(name: str) -> str:
    return await workflow.execute_activity(greet, name, start_to_close_timeout=10)


def main(store: str = "sqlite:///aion.db") -> str:
    with aion.Engine(store=store, workflows=[hello], activities=[greet]) as engine:
        handle = engine.start(hello, "world")
        result = handle.result(timeout=30)
        print(f"{handle.workflow_id}: {result}")
        print(f"history: {[event.type_name for event in handle.history()]}")
        return result


if __name__ == "__main__":
    main()
