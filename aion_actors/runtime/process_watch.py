"""Run and activity processes watched by their parents on the multi-process runtime.

Thespian's `ChildActorExited` is lost when several children of one parent
die at once on multiprocTCPBase (FACTS.md), and a lost notice leaves a run
waiting forever on an attempt that will never report, or a Recorder on a
run actor that is gone. So there a child tells its parent the process it
runs in (`ProcessUp`, its first message), and the parent watches it with
`supervisors.ProcessWatcher`: a death then always reaches the parent's
usual `ChildActorExited` handler, exactly once. In process every actor
shares one process: nothing is sent, nothing is watched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .context import RuntimeContext


@dataclass(frozen=True, slots=True)
class ProcessUp:
    """A child actor's first word to its parent on the multi-process runtime: its process id."""

    pid: int


def tell_parent_my_process(actor: Any, parent: Any, context: RuntimeContext) -> None:
    """From a child actor just started: let `parent` watch this process, if it is one of its own."""
    if context.config.runtime == "local":
        actor.send(parent, ProcessUp(os.getpid()))


def watch_child_process(parent: Any, msg: ProcessUp, sender: Any) -> None:
    """The parent's handler of `ProcessUp`.

    Watched under `sender`, the address the child's messages carry (see
    `ProcessWatcher.watch_process`). Stale news is harmless: a child that is
    gone already is reported once more, and its parent ignores the death of
    a child it no longer counts on, as it does Thespian's own late notice.
    """
    parent.watch_process(sender, msg.pid)
