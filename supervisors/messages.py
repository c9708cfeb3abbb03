"""The messages of supervision, links and monitors: frozen, slotted, picklable.

Requests to a supervisor and their replies (errors are replies, never
exceptions across actors):

=====================  ==================================================
request                reply
=====================  ==================================================
`Configure(spec)`      `Configured(ids)` or `SupervisorError`
`StartChild`           `Started(id, address)` or `SupervisorError`
`TerminateChild(id)`   `Terminated(id)` or `SupervisorError`
`RestartChild(id)`     `Started(id, address)` or `SupervisorError`
`DeleteChild(id)`      `Deleted(id)` or `SupervisorError`
`WhichChildren()`      `Children(tuple of ChildStatus)`
`CountChildren()`      `ChildCount(specs, active, supervisors, workers)`
`Shutdown()`           (the supervisor stops its children, then exits)
=====================  ==================================================

The supervision protocol between a supervisor and each child (the
`supervisors.links.LinkedActor` base class does the child's part):

- supervisor → child, first message: `Supervised(supervisor, child_id,
  init)`; the child handles `init` (its init message) and answers
  `ChildReady(pid)`, or exits if `init` failed.
- supervisor → child: `Shutdown()` — stop now, cleanly.
- child → supervisor: `Exit(reason)` — "I am ending, with this reason";
  the child then waits for the supervisor to stop it.

Links and monitors: `Link`, `Unlink`, `ExitSignal(sender, reason)`,
`Monitor(ref, watcher)`, `Demonitor(ref)`, `Down(ref, actor, reason)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .spec import ChildSpec, SupervisorSpec

# The closed vocabulary of `SupervisorError.code`.
ALREADY_PRESENT = "already_present"  # a stopped child with that id exists: restart or delete it
ALREADY_STARTED = "already_started"  # a running child with that id exists
NOT_FOUND = "not_found"  # no child with that id
RUNNING = "running"  # delete_child of a running child: terminate it first
INVALID_SPEC = "invalid_spec"  # the spec failed `validate` (detail names the field)
SIMPLE_ONE_FOR_ONE = "simple_one_for_one"  # not allowed for / only for that strategy
NOT_CONFIGURED = "not_configured"  # the supervisor has had no spec yet
START_FAILED = "start_failed"  # createActor raised
SHUTTING_DOWN = "shutting_down"  # the supervisor is stopping
ERRORS = (ALREADY_PRESENT, ALREADY_STARTED, NOT_FOUND, RUNNING, INVALID_SPEC,
          SIMPLE_ONE_FOR_ONE, NOT_CONFIGURED, START_FAILED, SHUTTING_DOWN)


def _frozen(cls):
    return dataclass(frozen=True, slots=True)(cls)


# -- configuration ----------------------------------------------------------------------

@_frozen
class Configure:
    """The default init message of a `Supervisor`: supervise per `spec`."""

    spec: SupervisorSpec


@_frozen
class Configured:
    """The supervisor started these children (ids in start order)."""

    ids: tuple


# -- the supervision protocol -----------------------------------------------------------

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
class Shutdown:
    """Stop cleanly: a child answers with `Exit("shutdown")` (or another reason)."""


@_frozen
class Exit:
    """Child → supervisor: I am ending with `reason`; stop me (see `decisions.is_normal`)."""

    reason: Any


# -- dynamic children -------------------------------------------------------------------

@_frozen
class StartChild:
    """Add and start a child.

    Attributes:
        spec: the new child's `ChildSpec` (all strategies but
            simple_one_for_one).
        message: simple_one_for_one only: the init message of the new
            instance of the template (None: the template's own).
    """

    spec: Optional[ChildSpec] = None
    message: Any = None


@_frozen
class TerminateChild:
    """Stop a child with its shutdown policy; keep its spec (temporary ones are dropped)."""

    id: Any


@_frozen
class RestartChild:
    """Start again a child stopped by `TerminateChild` (or a transient one that ended)."""

    id: Any


@_frozen
class DeleteChild:
    """Forget a stopped child's spec."""

    id: Any


@_frozen
class WhichChildren:
    """Ask for a `Children` reply."""


@_frozen
class CountChildren:
    """Ask for a `ChildCount` reply."""


@_frozen
class Started:
    """A child was started (`address` is its Thespian address)."""

    id: Any
    address: Any


@_frozen
class Terminated:
    id: Any


@_frozen
class Deleted:
    id: Any


@_frozen
class ChildStatus:
    """One child as `WhichChildren` sees it.

    Attributes:
        id: the child id.
        address: its address, or None when it is not running.
        type: "worker" or "supervisor".
        pid: the process id it reported, or None.
        restarts: how many times the supervisor restarted it.
    """

    id: Any
    address: Any
    type: str
    pid: Optional[int]
    restarts: int


@_frozen
class Children:
    children: tuple  # of ChildStatus, in start order


@_frozen
class ChildCount:
    specs: int  # child specs held, running or not
    active: int  # children running
    supervisors: int  # specs of type "supervisor"
    workers: int  # specs of type "worker"


@_frozen
class SupervisorError:
    """A request failed. `code` is one of `ERRORS`; `detail` says more."""

    code: str
    detail: str = ""


# -- links and monitors -----------------------------------------------------------------

@_frozen
class Link:
    """`peer` links itself to the receiver (links are both ways)."""

    peer: Any


@_frozen
class Unlink:
    peer: Any


@_frozen
class ExitSignal:
    """The linked actor `sender` ended with `reason`.

    Delivered to `receive` only when the receiver traps exits; otherwise an
    abnormal reason ends the receiver with the same reason.
    """

    sender: Any
    reason: Any


@_frozen
class Monitor:
    """`watcher` wants a `Down(ref, ...)` when the receiver ends."""

    ref: Any
    watcher: Any


@_frozen
class Demonitor:
    ref: Any


@_frozen
class Down:
    """The monitored actor ended with `reason` (always delivered to `receive`)."""

    ref: Any
    actor: Any
    reason: Any
