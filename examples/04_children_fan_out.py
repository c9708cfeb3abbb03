"""04 — Child workflows: fan out, fan in.

A parent workflow splits a job over child workflows, one per part, and
gathers their results with `workflow.all` (results in input order; the
first failure cancels the others and is raised). Each child is a workflow
of its own, with its own history, that here calls one activity.

- Record-then-spawn: `workflow.execute_child` first records
  `ChildWorkflowStarted` in the parent's history, with the child's id, and
  only then is the child spawned under exactly that id. Unless you give
  one, the id is `<parent id>/<ordinal>` (1, 2, 3...), so a replay of the
  parent finds the same children instead of starting new ones.
- Each child's outcome is recorded in the parent's history
  (`ChildWorkflowCompleted`) before the parent sees it: once recorded, a
  replay of the parent takes it from there and never waits on the child
  again.

    python examples/04_children_fan_out.py

You see the parent's id, the children's ids (`<parent>/1` to `<parent>/3`)
with each child's result and its own history, the combined result, and the
parent's history: three `ChildWorkflowStarted`, three
`ChildWorkflowCompleted`, `WorkflowCompleted`.
"""

import uuid

import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def count_words(text: str) -> int:
    return len(text.split())


@workflow.defn
async def count_chapter(text: str) -> int:
    return await workflow.execute_activity(count_words, text, start_to_close_timeout=10)


@workflow.defn
async def count_book(chapters: list) -> dict:
    per_chapter = await workflow.all([workflow.execute_child(count_chapter, text) for text in chapters])
    return {"per_chapter": per_chapter, "total": sum(per_chapter)}


CHAPTERS = [
    "It was a dark and stormy night",
    "The rain fell in torrents",
    "except at occasional intervals when it was checked by a violent gust of wind",
]


def main(store: str = "sqlite:///aion.db") -> dict:
    with aion.Engine(store=store, workflows=[count_book, count_chapter], activities=[count_words]) as engine:
        parent = engine.start(count_book, CHAPTERS, id=f"book-{uuid.uuid4().hex[:6]}")
        result = parent.result(timeout=30)
        history = parent.history()
        print(f"parent {parent.workflow_id}")
        children = [event.event.child_workflow_id for event in history if event.type_name == "ChildWorkflowStarted"]
        for child_id in children:
            child = engine.get_handle(child_id)
            print(f"  child {child_id}: {child.result(timeout=30)} words; its history: "
                  f"{', '.join(event.type_name for event in child.history())}")
        print(f"combined: {result}")
        print(f"parent history: {', '.join(event.type_name for event in history)}")
        return {"parent": parent.workflow_id, "children": children, "result": result,
                "history": [event.type_name for event in history]}


if __name__ == "__main__":
    main()
