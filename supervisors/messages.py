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
`WhichChild(id)`       `ChildStatus` or `SupervisorError`
`GetChildSpec(id)`     the `ChildSpec` or `SupervisorError`
`CountChildren()`      `ChildCount(specs, active, supervisors, workers)`
`Shutdown()`           (the supervisor stops its children, then exits)
=====================  ==================================================

`Shutdown()` asks a supervisor, or any `LinkedActor`, to stop cleanly. The
rest of the protocol between a supervisor and its children is private
(`supervisors._protocol`); `supervisors.links.LinkedActor` does the child's part.

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
RUNNING = "running"  # restart_child / delete_child of a running child: terminate it first
RESTARTING = "restarting"  # its restart failed and is being retried: terminate it first
INVALID_SPEC = "invalid_spec"  # the spec failed `validate` (detail names the field)
SIMPLE_ONE_FOR_ONE = "simple_one_for_one"  # not allowed for / only for that strategy
NOT_CONFIGURED = "not_configured"  # the supervisor has had no spec yet
START_FAILED = "start_failed"  # a child could not start (detail: which and why)
INIT_FAILED = "init_failed"  # `Supervisor.init` raised (detail: the exception)
SHUTTING_DOWN = "shutting_down"  # the supervisor is stopping
ERRORS = (ALREADY_PRESENT, ALREADY_STARTED, NOT_FOUND, RUNNING, RESTARTING, INVALID_SPEC,
          SIMPLE_ONE_FOR_ONE, NOT_CONFIGURED, START_FAILED, INIT_FAILED, SHUTTING_DOWN)


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


@_frozen
class Shutdown:
    """Stop cleanly: a `LinkedActor` ends with reason "shutdown"; a supervisor
    first stops its children in reverse start order."""


# -- dynamic children -------------------------------------------------------------------

@_frozen
class StartChild:
    """Add and start a child.

    The reply is `Started(id, address)`; `address` is None when the child
    chose not to start (`LinkedActor.ignore`): a simple_one_for_one instance
    or a temporary child is then forgotten, any other keeps its spec, stopped.

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
    """Stop a child with its shutdown policy; keep its spec (temporary ones are dropped).

    Under simple_one_for_one, `id` is an instance id ``(template_id, n)``: an
    instance that already ended is not an error (`Terminated`); the template
    id itself is refused with code "simple_one_for_one". A child whose restart
    is being retried ("restarting") is stopped from retrying.
    """

    id: Any


@_frozen
class RestartChild:
    """Start again a child stopped by `TerminateChild` (or a transient one that ended).

    Refused with code "running" when it runs, "restarting" while its failed
    restart is being retried.
    """

    id: Any


@_frozen
class DeleteChild:
    """Forget a stopped child's spec."""

    id: Any


@_frozen
class WhichChildren:
    """Ask for a `Children` reply."""


@_frozen
class WhichChild:
    """Ask for the `ChildStatus` of child `id` (OTP ``which_child/2``)."""

    id: Any


@_frozen
class GetChildSpec:
    """Ask for the `ChildSpec` of child `id` (OTP ``get_childspec/2``).

    Under simple_one_for_one, an instance id gives that instance's spec (its
    id and init message) and the template id the template.
    """

    id: Any


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
        restarting: its restart failed and will be retried (OTP's
            ``restarting``); `address` is None meanwhile.
    """

    id: Any
    address: Any
    type: str
    pid: Optional[int]
    restarts: int
    restarting: bool = False


@_frozen
class Children:
    children: tuple  # of ChildStatus, in start order


@_frozen
class ChildCount:
    """What `CountChildren` counts (OTP ``count_children/1``).

    Under simple_one_for_one, `specs` is 1 (the template) and `supervisors`
    / `workers` count the instances held, running or restarting.
    """

    specs: int  # child specs held, running or not
    active: int  # children running
    supervisors: int  # children of type "supervisor"
    workers: int  # children of type "worker"


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
