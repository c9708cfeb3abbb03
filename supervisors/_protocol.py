"""The private protocol between a supervisor and each `LinkedActor` child.

- supervisor → child, first message: `Supervised(supervisor, child_id,
  init, pid)`; the child handles `init` (its init message) and answers
  `ChildReady(pid)`, or exits if `init` failed (`Exit(IGNORE)` if it chose
  not to start). A child that is itself a supervisor answers only once its
  own children have started.
- supervisor → child: `supervisors.messages.Shutdown()`: stop now, cleanly.
- child → supervisor: `Exit(reason)`: "I am ending, with this reason"; the
  child then waits for the supervisor to stop it.
"""

from __future__ import annotations

from typing import Any, Optional

from .messages import _frozen


@_frozen
class Supervised:
    """Supervisor → `LinkedActor` child, its first message: you are `child_id` of
    `supervisor`; `init` is your init message (None: none)."""

    supervisor: Any
    child_id: Any
    init: Any = None
    pid: Optional[int] = None  # the supervisor's process id


@_frozen
class ChildReady:
    """Child → supervisor, once `Supervised.init` was handled: I am started, and
    this is my process id (for forced stops)."""

    pid: int


@_frozen
class Exit:
    """Child → supervisor: I am ending with `reason`; stop me (see `_decisions.is_normal`)."""

    reason: Any
