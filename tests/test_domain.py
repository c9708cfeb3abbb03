"""The event catalog's wire form and the status projection, without an engine."""

import dataclasses
from datetime import datetime, timezone

import msgpack
import pytest

import aion_actors as aion
from aion_actors import events as ev
from aion_actors.errors import Failure
from aion_actors.payload import encode
from aion_actors.status import WorkflowStatus, project

NOW = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone.utc)
P = encode({"k": [1, (2, 3)], "b": b"\x00"})
F = Failure("ValueError", "bad", "Traceback ...", True)

SAMPLES = [
    ev.WorkflowStarted("order", P, "parent", "run0", "v2", 30.0), ev.WorkflowCompleted(P), ev.WorkflowFailed(F),
    ev.WorkflowCancelRequested("why"), ev.WorkflowCancelled("why", True), ev.WorkflowTimedOut(5.0),
    ev.WorkflowContinuedAsNew(P, "run2"), ev.WorkflowPaused("hold"), ev.WorkflowResumed("go"),
    ev.WorkflowReopened("again"), ev.ActivityScheduled(1, "charge", P, {"retry": None, "t": 1.5}),
    ev.ActivityStarted(1, 2), ev.ActivityCompleted(1, 2, P), ev.ActivityFailed(1, 2, F, ev.RETRYABLE),
    ev.ActivityCancelled(1, "lost the race"), ev.ActivityHeartbeat(1, 2, P), ev.TimerStarted("1:t", NOW),
    ev.TimerFired("1:t"), ev.TimerCancelled("1:t"), ev.SignalReceived("approve", P),
    ev.SignalSent("other", "approve", P), ev.ChildWorkflowStarted(1, "p/1", "ship", P, "abandon"),
    ev.ChildWorkflowCompleted("p/1", P), ev.ChildWorkflowFailed("p/1", F), ev.ChildWorkflowCancelled("p/1", "x"),
    ev.MarkerRecorded("patch:x", None), ev.MarkerRecorded("side", P),
    ev.SignalSent("other", "approve", P, 3), ev.ExternalSignalDelivered(3),
    ev.ExternalSignalFailed(3, Failure("WorkflowNotFound", "gone")), ev.ChildWorkflowStartFailed("p/1", F),
    ev.ActivityFailed(1, 2, Failure("ApplicationError", "declined", "", True, (P, encode(123))), ev.TERMINAL),
]


def test_every_event_type_is_sampled():
    assert {type(e) for e in SAMPLES} == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type_name)
def test_every_event_round_trips_through_the_wire_form(event):
    recorded = ev.HistoryEvent(7, NOW, "wf", "run1", event)
    stored = ev.to_stored(recorded)
    assert stored.type == event.type_name and isinstance(stored.data, bytes)
    assert ev.from_stored(stored) == recorded


def test_events_written_before_a_field_was_added_read_with_its_default():
    # The wire forms of SignalSent and of a Failure as versions before `ordinal` and `details` wrote them.
    old_signal = msgpack.packb([ev.WIRE_VERSION, ["other", "approve", [P.content_type, P.data]]], use_bin_type=True)
    assert ev.decode_event("SignalSent", old_signal) == ev.SignalSent("other", "approve", P, 0)
    old_failure = msgpack.packb([ev.WIRE_VERSION, [["ValueError", "bad", "tb", False]]], use_bin_type=True)
    assert ev.decode_event("WorkflowFailed", old_failure) == ev.WorkflowFailed(Failure("ValueError", "bad", "tb"))
    assert ev.encode_event(ev.WorkflowFailed(Failure("ValueError", "bad", "tb"))) == old_failure


def test_an_unreadable_event_is_a_store_error_naming_workflow_and_seq():
    stored = ev.to_stored(ev.HistoryEvent(3, NOW, "wf-9", "r", ev.TimerFired("t")))
    for bad in (dataclasses.replace(stored, type="NoSuchEvent"),
                dataclasses.replace(stored, data=msgpack.packb([99, ["t"]])),
                dataclasses.replace(stored, data=b"\xc1garbage")):
        with pytest.raises(aion.StoreError) as info:
            ev.from_stored(bad)
        assert "'wf-9'" in str(info.value) and "seq 3" in str(info.value)


def test_status_is_projected_from_history_alone():
    started = ev.WorkflowStarted("t", P)
    assert project([]) is None
    assert project([started]) is WorkflowStatus.RUNNING
    assert project([started, ev.ActivityScheduled(1, "a", P), ev.WorkflowCompleted(P)]) is WorkflowStatus.COMPLETED
    assert project([started, ev.WorkflowPaused("x")]) is WorkflowStatus.PAUSED
    assert project([started, ev.WorkflowPaused("x"), ev.WorkflowResumed()]) is WorkflowStatus.RUNNING
    assert project([started, ev.WorkflowContinuedAsNew(P, "r2")]) is WorkflowStatus.CONTINUED_AS_NEW
    assert project([started, ev.WorkflowContinuedAsNew(P, "r2"), started]) is WorkflowStatus.RUNNING
    assert project([started, ev.WorkflowFailed(F)]).is_terminal
    assert not project([started, ev.WorkflowPaused("x")]).is_terminal
