"""Child and supervisor specifications: plain, frozen, picklable data.

A spec says *what* to supervise; `supervisors.decisions` says what to do when
something exits; `supervisors.supervisor.Supervisor` does it. Every default
lives here, in the dataclass fields (a child's `shutdown` default depends on
its `type`, as in OTP: 5 seconds for a worker, "infinity" for a supervisor),
and `check_childspecs` / `_validate` are the one place that checks them. They
raise `SpecError` naming the bad field and what is allowed.

How a child is started is a `Start`: an actor class (importable at module
level, so it pickles by reference for the multiprocess runtime) and an
optional init message the supervisor sends right after creating the actor::

    ChildSpec("db", Start(DbWorker, {"path": "/tmp/x.db"}), restart="transient")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from thespian.actors import Actor

RESTART_TYPES = ("permanent", "transient", "temporary")
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")
AUTO_SHUTDOWN = ("never", "any_significant", "all_significant")
CHILD_TYPES = ("worker", "supervisor")
SHUTDOWN_WORDS = ("brutal_kill", "infinity")
WORKER_SHUTDOWN = 5.0  # seconds: the default `shutdown` of a worker (a supervisor's is "infinity")

Shutdown = Union[str, float, int, None]


class SpecError(ValueError):
    """A specification is invalid.

    Attributes:
        field: the offending field, dotted from the supervisor spec
            (e.g. ``"children[1].restart"``).
        value: the value found there.
        allowed: a description of the allowed values.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True, slots=True)
class Start:
    """How to start a child: ``createActor(actor_class)``, then send it `message`.

    Attributes:
        actor_class: a Thespian `Actor` subclass defined at module level.
        message: the init message, sent right after creation (after the
            supervision handshake, see `supervisors.links`); None sends none.
    """

    actor_class: type
    message: Any = None


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One child of a supervisor.

    Attributes:
        id: unique among the supervisor's children (any hashable, picklable
            value; strings are clearest).
        start: a `Start`.
        restart: "permanent" (always restarted), "transient" (restarted only
            after an abnormal exit), "temporary" (never restarted, and
            forgotten once it exits).
        shutdown: how the supervisor stops it: "brutal_kill" (force at once),
            a number of seconds >= 0 to wait after asking it to shut down
            before forcing (0: ask, then force at once), or "infinity" (wait
            as long as it takes). None (the default) means 5 seconds for a
            worker and "infinity" for a supervisor, whose own children must
            have time to stop. See `supervisors.supervisor` for what "force"
            means on each runtime.
        significant: when it exits on its own and is not restarted, it may
            shut its supervisor down (see `SupervisorSpec.auto_shutdown`).
        type: "worker" or "supervisor" (informational, and a supervisor child
            is never SIGKILLed so that its own children go down with it).
    """

    id: Any
    start: Start
    restart: str = "permanent"
    shutdown: Shutdown = None
    significant: bool = False
    type: str = "worker"

    def __post_init__(self) -> None:
        if self.shutdown is None:  # frozen: the default is filled in once, here
            object.__setattr__(self, "shutdown", "infinity" if self.type == "supervisor"
                               else WORKER_SHUTDOWN)


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """What a supervisor supervises and how.

    Attributes:
        strategy: "one_for_one" (restart the failed child), "one_for_all"
            (stop all others, restart all), "rest_for_one" (stop and restart
            the children started after the failed one, and it),
            "simple_one_for_one" (one_for_one over dynamic instances of one
            template child).
        intensity: at most this many restarts ...
        period: ... within this many seconds; one more and the supervisor
            stops all its children and exits abnormally (escalates).
        children: the child specs in start order; for simple_one_for_one
            exactly one, the template, which is not started by itself.
        auto_shutdown: "never", "any_significant" (shut down when a
            significant child exits on its own and is not restarted) or
            "all_significant" (when no significant child is left running).
    """

    strategy: str = "one_for_one"
    intensity: int = 1
    period: float = 5.0
    children: tuple[ChildSpec, ...] = field(default_factory=tuple)
    auto_shutdown: str = "never"


def _one_of(field_name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(field_name, value, "one of " + ", ".join(repr(a) for a in allowed))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate_child(child: Any, where: str = "child", auto_shutdown: str = "never") -> ChildSpec:
    """Check one child spec; return it unchanged.

    Args:
        child: the spec to check.
        where: the field name to report errors under.
        auto_shutdown: the supervisor's, to check `significant` against.

    Raises:
        SpecError: naming the bad field.
    """
    if not isinstance(child, ChildSpec):
        raise SpecError(where, child, "a ChildSpec")
    try:
        hash(child.id)
    except TypeError:
        raise SpecError(f"{where}.id", child.id, "a hashable value") from None
    if not isinstance(child.start, Start):
        raise SpecError(f"{where}.start", child.start, "a Start(actor_class, message)")
    if not (isinstance(child.start.actor_class, type) and issubclass(child.start.actor_class, Actor)):
        raise SpecError(f"{where}.start.actor_class", child.start.actor_class,
                        "an Actor class (thespian.actors.Actor subclass)")
    _one_of(f"{where}.restart", child.restart, RESTART_TYPES)
    shutdown = child.shutdown
    if not (shutdown in SHUTDOWN_WORDS if isinstance(shutdown, str)
            else _is_number(shutdown) and shutdown >= 0):
        raise SpecError(f"{where}.shutdown", shutdown,
                        "'brutal_kill', 'infinity' or a number of seconds >= 0")
    _one_of(f"{where}.type", child.type, CHILD_TYPES)
    if not isinstance(child.significant, bool):
        raise SpecError(f"{where}.significant", child.significant, "True or False")
    if child.significant:
        # As in OTP: a significant child must be able to end for good, and
        # its ending must mean something to the supervisor.
        if child.restart == "permanent":
            raise SpecError(f"{where}.restart", child.restart,
                            "'transient' or 'temporary' for a significant child")
        if auto_shutdown == "never":
            raise SpecError(f"{where}.significant", True,
                            "False when the supervisor's auto_shutdown is 'never'")
    return child


def check_childspecs(children: Any, auto_shutdown: str = "never") -> None:
    """Check a whole list of child specs, as a supervisor would (OTP ``check_childspecs/2``).

    Args:
        children: a tuple or list of `ChildSpec`, in start order.
        auto_shutdown: the supervisor's setting, to check `significant`
            children against.

    Raises:
        SpecError: naming the first bad field (``children[i].<field>``), a
            duplicate id, or an unknown `auto_shutdown`.
    """
    _one_of("auto_shutdown", auto_shutdown, AUTO_SHUTDOWN)
    if not isinstance(children, (tuple, list)):
        raise SpecError("children", children, "a tuple of ChildSpec")
    seen = set()
    for i, child in enumerate(children):
        _validate_child(child, f"children[{i}]", auto_shutdown)
        if child.id in seen:
            raise SpecError(f"children[{i}].id", child.id, "an id not used by another child")
        seen.add(child.id)


def _validate(spec: Any) -> SupervisorSpec:
    """Check a supervisor spec and all its children; return it unchanged.

    Raises:
        SpecError: naming the first bad field (``strategy``, ``intensity``,
            ``period``, ``auto_shutdown``, ``children``, ``children[i].<field>``).
    """
    if not isinstance(spec, SupervisorSpec):
        raise SpecError("spec", spec, "a SupervisorSpec")
    _one_of("strategy", spec.strategy, STRATEGIES)
    if not isinstance(spec.intensity, int) or isinstance(spec.intensity, bool) or spec.intensity < 0:
        raise SpecError("intensity", spec.intensity, "an integer >= 0")
    if not _is_number(spec.period) or spec.period <= 0:
        raise SpecError("period", spec.period, "a positive number of seconds")
    _one_of("auto_shutdown", spec.auto_shutdown, AUTO_SHUTDOWN)
    if not isinstance(spec.children, tuple):
        raise SpecError("children", spec.children, "a tuple of ChildSpec")
    if spec.strategy == "simple_one_for_one":
        if len(spec.children) != 1:
            raise SpecError("children", f"{len(spec.children)} child specs",
                            "exactly one child spec (the template) for 'simple_one_for_one'")
        if spec.auto_shutdown != "never":
            # OTP's bad_combination: instances come and go by design, so their
            # ending cannot mean the supervisor's work is done.
            raise SpecError("auto_shutdown", spec.auto_shutdown,
                            "'never' for 'simple_one_for_one' (bad_combination)")
    check_childspecs(spec.children, spec.auto_shutdown)
    return spec
