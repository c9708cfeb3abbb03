"""The middle of the engine's supervision tree: one supervisor per workflow type.

The engine actor is the root (DESIGN.md): under it, a `supervisors.Supervisor`
per workflow type (simple_one_for_one) keeps a Recorder per resident run and
restarts one that crashes; the Recorder then rebuilds its run from the store.
A type supervisor that exceeds its restart intensity stops its Recorders and
exits, as OTP's would; the engine starts it again and makes that type's
runs resident again, within an intensity of its own, so a systematic bug cannot spin.
"""

from __future__ import annotations

from typing import Any, Callable

from supervisors import ChildSpec, Configure, RestartIntensity, Start, Supervisor, SupervisorSpec

from .recorder import Recorder

# A Recorder crash is an engine bug: its type supervisor restarts it this often before
# giving up; the engine actor then starts the type supervisor again, this often.
TYPE_RESTART_INTENSITY, TYPE_RESTART_PERIOD = 10, 10.0


class RunSupervisor(Supervisor):
    """A workflow type's supervisor.

    No start deadline: a Recorder's init cannot block, and on Thespian's simple
    base a wakeup per start would be scanned by every later message.
    """

    start_timeout = "infinity"


def type_supervisor_spec() -> SupervisorSpec:
    return SupervisorSpec("simple_one_for_one", intensity=TYPE_RESTART_INTENSITY, period=TYPE_RESTART_PERIOD,
                          children=(ChildSpec("run", Start(Recorder), restart="transient", shutdown="brutal_kill"),))


class TypeSupervisors:
    """The engine actor's type supervisors: one per workflow type, started on first use.

    Args:
        create: the engine actor's `createActor`.
        send: the engine actor's `send`.
    """

    def __init__(self, create: Callable[[type], Any], send: Callable[[Any, Any], None]) -> None:
        self._create = create
        self._send = send
        self._by_type: dict[str, Any] = {}
        self._restarts: dict[str, RestartIntensity] = {}

    def of(self, workflow_type: str) -> Any:
        """The type's supervisor, started now if it has none."""
        supervisor = self._by_type.get(workflow_type)
        if supervisor is None:
            supervisor = self._by_type[workflow_type] = self._create(RunSupervisor)
            self._send(supervisor, Configure(type_supervisor_spec()))
        return supervisor

    def exited(self, address: Any, now: float) -> tuple[str | None, bool]:
        """A child of the engine exited: whose supervisor it was (None: not one), and whether
        that type may be started again now (within its restart intensity)."""
        workflow_type = next((t for t, a in self._by_type.items() if a == address), None)
        if workflow_type is None:
            return None, False
        del self._by_type[workflow_type]
        budget = self._restarts.setdefault(workflow_type,
                                           RestartIntensity(TYPE_RESTART_INTENSITY, TYPE_RESTART_PERIOD))
        return workflow_type, budget.record(now)
