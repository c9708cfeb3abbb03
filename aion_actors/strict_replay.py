"""What strict replay compares between the command code issues and the event history holds.

Ordinary replay matches a command to its event by correlation key alone;
strict replay (`replay()`, `aion replay`) also asks that the arguments be the
same. Some recorded parts are not arguments of the code and must not count:
a failure's traceback names the file paths and line numbers of wherever the
code ran (another checkout, an edit above the raise, another Python), and a
field added to an event after a history was written reads as its default
there, while today's code issues a real value.
"""

from __future__ import annotations

import dataclasses

from . import events as ev


def same_arguments(issued: ev.Event, recorded: ev.Event) -> bool:
    """Whether `issued` (from today's code) matches `recorded` (from history) argument for argument."""
    return ev.encode_event(_comparable(issued, recorded)) == ev.encode_event(_comparable(recorded, recorded))


def _comparable(event: ev.Event, recorded: ev.Event) -> ev.Event:
    if isinstance(event, ev.WorkflowFailed):
        event = dataclasses.replace(event, failure=dataclasses.replace(event.failure, traceback=""))
    if isinstance(event, ev.SignalSent) and isinstance(recorded, ev.SignalSent) and recorded.ordinal == 0:
        event = dataclasses.replace(event, ordinal=0)  # written before sends had ordinals (code issues 1, 2, ...)
    return event
