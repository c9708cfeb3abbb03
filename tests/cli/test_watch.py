"""`aion watch` draws a progress bar per running activity from its heartbeats, and drops it when it ends."""

from __future__ import annotations

import io
import threading

from rich.console import Console

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.cli.commands_watch import Follower
from tests.waiting import wait_for

release = threading.Event()


@activity.defn
def crunch(total: int) -> int:
    activity.heartbeat({"done": 3, "total": total})
    release.wait(30)
    return total


@workflow.defn
async def cruncher(total: int) -> int:
    return await workflow.execute_activity(crunch, total, start_to_close_timeout=60)


def test_heartbeat_details_drive_a_progress_bar(tmp_path):
    release.clear()
    screen = io.StringIO()
    with aion.Engine(store=f"sqlite:///{tmp_path}/aion.db", workflows=[cruncher], activities=[crunch]) as engine:
        handle = engine.start(cruncher, 10, id="c-1")
        wait_for(lambda: "ActivityHeartbeat" in [e.type_name for e in handle.history()], "a heartbeat to be recorded")
        follower = Follower(engine._store, ["c-1"], Console(file=screen, force_terminal=True, width=120), False)
        with follower.live():
            shown = follower.poll()
            assert [e.type_name for e in shown][-1] == "ActivityHeartbeat"
            (bar,) = follower.progress.tasks
            assert (bar.completed, bar.total, bar.description) == (3, 10, "c-1 #1 crunch")
            assert not follower.closed("c-1")
            release.set()
            assert handle.result(timeout=30) == 10
            follower.poll()
            assert follower.progress.tasks == [] and follower.closed("c-1")
    assert "ActivityCompleted" in screen.getvalue() and "WorkflowCompleted" in screen.getvalue()
