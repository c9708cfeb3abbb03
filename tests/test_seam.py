"""Services speak only through the EngineHandle seam: unit tests with the recording fake."""


import pytest

import aion_actors as aion
from aion_actors import events as ev
from aion_actors.converter import decode_value, encode_value
from aion_actors.seam import Query, RecordingEngineHandle, Residency
from aion_actors.services import QueryService, SignalService


def services(residency):
    seam = RecordingEngineHandle(residency=residency)
    return seam, SignalService(seam, lambda wf: "completed"), QueryService(seam, lambda wf: "completed")


def test_signal_to_running_workflow_is_recorded_then_delivered():
    seam, signals, _ = services({"w": Residency.NON_RESIDENT})
    signals.signal("w", "approve", {"by": "alice"})
    assert [c[0] for c in seam.calls] == ["resolve_workflow", "deliver_workflow_message"]
    message = seam.calls[1][2]
    assert isinstance(message, ev.SignalReceived) and message.name == "approve"
    assert decode_value(message.payload) == {"by": "alice"}


@pytest.mark.parametrize("residency, error", [(Residency.UNKNOWN, aion.WorkflowNotFound),
                                              (Residency.TERMINAL, aion.NotRunning)])
def test_refused_signal_delivers_nothing(residency, error):
    seam, signals, _ = services({"w": residency})
    with pytest.raises(error):
        signals.signal("w", "approve", 1)
    assert [c[0] for c in seam.calls] == ["resolve_workflow"]


def test_unencodable_signal_touches_nothing():
    seam, signals, _ = services({"w": Residency.RESIDENT})
    with pytest.raises(aion.PayloadError):
        signals.signal("w", "approve", {1, 2})
    assert seam.calls == []


def test_cancel_is_a_recorded_request():
    seam, signals, _ = services({"w": Residency.RESIDENT})
    signals.cancel("w", "no longer needed")
    assert seam.calls[-1] == ("deliver_workflow_message", "w", ev.WorkflowCancelRequested("no longer needed"))


def test_query_returns_the_reply_and_times_out():
    class Answering(RecordingEngineHandle):
        def deliver_workflow_message(self, workflow_id, message):
            super().deliver_workflow_message(workflow_id, message)
            if message.name == "status":
                message.reply.set_result(encode_value({"stage": "ok"}))
            return message.reply

    seam = Answering(residency={"w": Residency.RESIDENT})
    queries = QueryService(seam, lambda wf: "running")
    assert queries.query("w", "status", (), timeout=1) == {"stage": "ok"}
    assert isinstance(seam.calls[-1][2], Query)
    with pytest.raises(aion.QueryTimeout):
        queries.query("w", "silent", (), timeout=0.01)
