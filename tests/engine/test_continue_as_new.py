"""Continue-as-new hands the workflow over from one run to the next: what the old run owned
(its linked children, attempts, timers) ends with it, and nothing of the new run is touched."""

from types import SimpleNamespace

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors import events as ev
from aion_actors.converter import encode_value
from aion_actors.definitions import Registry, workflow_definition
from aion_actors.runtime.clock import SYSTEM_CLOCK
from aion_actors.runtime.messages import CancelAttempt, Committed, DeadlinePassed, Record, Recorded, Resolved
from aion_actors.runtime.timers import TimerWheel
from aion_actors.runtime.workflow_actor import WorkflowActor
from aion_actors.seam import RecordingEngineHandle
from tests.waiting import wait_for


@workflow.defn
async def child_until_told() -> str:
    return await workflow.receive("go")


@workflow.defn
async def hands_over_with_a_child(run: int) -> str:
    child = workflow.start_child(child_until_told, id=f"kid-of-run-{run}")
    if run == 0:
        await workflow.sleep(0)  # the child is recorded in this run before it hands over
        workflow.continue_as_new(1)
    return f"run {run}: " + await child


def test_continue_as_new_cancels_the_old_runs_children_and_spares_the_new_runs(make_engine):
    engine = make_engine([hands_over_with_a_child, child_until_told])
    parent = engine.start(hands_over_with_a_child, 0, id="hands-over")
    old_kid = wait_for(lambda: _handle(engine, "kid-of-run-0"), "the old run's child to start")
    wait_for(lambda: old_kid.describe().status == "cancelled", "the old run's child to be cancelled",
             detail=lambda: old_kid.describe())
    new_kid = wait_for(lambda: _handle(engine, "kid-of-run-1"), "the new run's child to start")
    wait_for(lambda: new_kid.describe().status == "running", "the new run's child to run")
    new_kid.signal("go", "done")
    assert parent.result(timeout=30) == "run 1: done"
    assert new_kid.describe().status == "completed"


def _handle(engine, workflow_id):
    try:
        return engine.get_handle(workflow_id)
    except aion.WorkflowNotFound:
        return None


# -- the hand-over under a chosen delivery order ---------------------------------------------
#
# Between OS processes, the Recorder's Committed messages may reach the run out of order. These
# drive one WorkflowActor by hand, playing its Recorder, to choose that order deterministically.

class HandDrivenRun:
    """A `WorkflowActor` whose Recorder, engine and attempt actors are this test."""

    def __init__(self, workflow_fn, input, activities=()):
        self.actor = actor = WorkflowActor()
        self.sent: list[tuple[object, object]] = []
        self.attempts: list[str] = []
        actor.send = lambda to, msg: self.sent.append((to, msg))
        actor.createActor = self._create_attempt
        actor._myRef = SimpleNamespace(address="run")
        actor.context = SimpleNamespace(registry=Registry([workflow_fn], list(activities)), clock=SYSTEM_CLOCK)
        actor.ref, actor.workflow_id, actor.recorder, actor.engine = None, "wf", "recorder", "engine"
        actor.seam = RecordingEngineHandle()
        self.seq, self.run_id, self.records = 1, "run-1", {}
        name = workflow_definition(workflow_fn).name
        started = ev.HistoryEvent(1, SYSTEM_CLOCK.now(), "wf", "run-1", ev.WorkflowStarted(name, encode_value(input)))
        actor.applied_seq = 1  # as `_init` sets it from the history
        actor._begin(started, 1, [])

    def _create_attempt(self, cls):
        self.attempts.append(f"attempt-{len(self.attempts) + 1}")
        return self.attempts[-1]

    def _envelope_sent_records(self) -> None:
        for to, msg in list(self.sent):
            if isinstance(msg, Record) and msg.token not in self.records:
                events = []
                for event in msg.events:
                    self.seq += 1
                    events.append(ev.HistoryEvent(self.seq, SYSTEM_CLOCK.now(), "wf", self.run_id, event))
                    if isinstance(event, ev.WorkflowContinuedAsNew):
                        self.run_id = event.next_run_id
                self.records[msg.token] = tuple(events)

    def recorded(self, token: int) -> None:
        self._envelope_sent_records()
        self.actor.receiveMessage(Recorded(token, self.records[token]), "recorder")

    def committed(self, *tokens: int) -> None:
        for token in tokens:
            self.actor.receiveMessage(Committed(token), "recorder")

    def signal(self, name: str) -> None:
        self._envelope_sent_records()
        self.seq += 1
        event = ev.HistoryEvent(self.seq, SYSTEM_CLOCK.now(), "wf", self.run_id,
                                ev.SignalReceived(name, encode_value(None)))
        self.actor.receiveMessage(Resolved(event), "recorder")

    def armed_timers(self) -> set[str]:
        """What the engine's timer heap holds after every arm and disarm, in the order sent."""
        wheel = TimerWheel()
        for call in self.actor.seam.calls:
            if call[0] == "arm_timer":
                wheel.arm(*call[1:])
            elif call[0] == "disarm_timer":
                wheel.disarm_workflow("wf") if call[2] is None else wheel.disarm("wf", call[2])
        return {timer_id for _, timer_id in wheel.pop_due(float("inf"))}

    def told_to_stop(self) -> list[str]:
        return [to for to, msg in self.sent if isinstance(msg, CancelAttempt)]


@workflow.defn
async def sleeps_after_handing_over(run: int) -> int:
    if run == 0:
        workflow.continue_as_new(1)
    await workflow.sleep(60)
    return run


def test_the_next_runs_timer_survives_the_hand_over_committed_after_it():
    run = HandDrivenRun(sleeps_after_handing_over, 0)
    run.recorded(1)  # the hand-over: the next run starts, and records its timer (Record 2)
    run.recorded(2)
    run.committed(2, 1)  # delivered out of order
    (started,) = [e.event for e in run.records[2] if isinstance(e.event, ev.TimerStarted)]
    assert run.armed_timers() == {started.timer_id}


@activity.defn
def runs_until_stopped(name: str) -> str:
    return name


@workflow.defn
async def stops_an_attempt_in_each_run(run: int) -> str:
    attempt = workflow.execute_activity(runs_until_stopped, f"run {run}")
    winner = await workflow.race([attempt, workflow.receive("stop")])
    if run == 0:
        workflow.continue_as_new(1)
    return winner


def test_each_runs_stopped_attempt_is_stopped_when_their_activity_ids_collide():
    run = HandDrivenRun(stops_an_attempt_in_each_run, 0, [runs_until_stopped])
    run.recorded(1)
    run.committed(1)  # the old run's activity 1 runs
    assert run.attempts == ["attempt-1"]
    run.signal("stop")  # it is cancelled, and the run hands over (Record 2)
    run.recorded(2)  # the next run schedules its own activity 1 (Record 3)
    run.recorded(3)
    run.committed(3)  # delivered before the hand-over's commit
    run.signal("stop")  # the next run cancels its activity 1 (Record 4)
    run.recorded(4)
    run.committed(2, 4)
    assert sorted(run.told_to_stop()) == run.attempts


@workflow.defn
async def hands_over_while_its_attempt_runs(run: int) -> str:
    if run == 0:
        workflow.execute_activity(runs_until_stopped, "old", start_to_close_timeout=5)
        await workflow.receive("hand over")
        workflow.continue_as_new(1)
    return await workflow.receive("end")


def test_an_attempt_timing_out_during_the_hand_over_is_stopped_and_not_recorded_in_the_next_run():
    run = HandDrivenRun(hands_over_while_its_attempt_runs, 0, [runs_until_stopped])
    run.recorded(1)
    run.committed(1)
    (deadline,) = [call[2] for call in run.actor.seam.calls if call[0] == "arm_timer"]
    run.signal("hand over")  # the code continues as new (Record 2, not applied yet)...
    run.actor.receiveMessage(DeadlinePassed(deadline), "recorder")  # ...as the old attempt times out
    for token in sorted(run.records.keys() | {r.token for _, r in run.sent if isinstance(r, Record)}):
        run.recorded(token)
    run.committed(*sorted(run.records))
    outcomes = [e for events in run.records.values() for e in events if isinstance(e.event, ev.ActivityFailed)]
    assert outcomes == []  # the old run ended; the next run never scheduled that activity
    assert run.told_to_stop() == ["attempt-1"]


@workflow.defn
async def reuses_its_childs_id(run: int) -> str:
    kid = workflow.start_child(child_until_told, id="kept-kid", parent_close_policy="abandon")
    if run == 0:
        await workflow.sleep(0)
        workflow.continue_as_new(1)
    try:
        return await kid
    except aion.WorkflowAlreadyExists as err:
        return f"already exists: {err.workflow_id}"


def test_a_later_run_reusing_a_running_childs_id_fails_its_start(make_engine):
    engine = make_engine([reuses_its_childs_id, child_until_told])
    parent = engine.start(reuses_its_childs_id, 0, id="reuses-child-id")
    assert parent.result(timeout=30) == "already exists: kept-kid"
    kid = engine.get_handle("kept-kid")  # the first run's child, abandoned: it runs on, untouched
    assert kid.describe().status == "running"
    kid.signal("go", "still mine")
    assert kid.result(timeout=30) == "still mine"


@workflow.defn
async def reuses_a_finished_childs_id(run: int) -> str:
    kid = workflow.start_child(child_until_told, id="finished-kid-of-run-0")
    if run == 0:
        await workflow.receive("continue")  # by now the child has finished
        workflow.continue_as_new(1)
    try:
        return await kid
    except aion.WorkflowAlreadyExists as err:
        return f"already exists: {err.workflow_id}"


def test_a_later_run_reusing_a_finished_childs_id_does_not_get_its_result(make_engine):
    engine = make_engine([reuses_a_finished_childs_id, child_until_told])
    parent = engine.start(reuses_a_finished_childs_id, 0, id="reuses-finished-child-id")
    kid = wait_for(lambda: _handle(engine, "finished-kid-of-run-0"), "the first run's child to start")
    kid.signal("go", "for run 0")
    assert kid.result(timeout=30) == "for run 0"
    parent.signal("continue")
    assert parent.result(timeout=30) == "already exists: finished-kid-of-run-0"
