"""The middle of the engine's supervision tree: one supervisor per workflow type.

The engine actor is the root (DESIGN.md): under it, a `supervisors.Supervisor`
per workflow type (simple_one_for_one) keeps a Recorder per resident run and
restarts one that crashes; the Recorder then rebuilds its run from the store.
A type supervisor that exceeds its restart intensity stops its Recorders and
exits, as OTP's would; the engine starts it again and resumes that type's
runs, within an intensity of its own, so a systematic bug cannot spin.
"""

from __future__ import annotations

import logging
import time

from supervisors import ChildSpec, Configure, Start, Supervisor, SupervisorSpec
from supervisors._decisions import RestartIntensity

from .recorder import Recorder

log = logging.getLogger("aion_actors.engine")

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
    """The engine actor's part as root. Needs: `supervisors`, `supervisor_restarts`, `type_of`,
    `runs`, `coming`, `loading`, `touched`, `asked`, `_release`, `_resume`, `createActor`, `send`."""

    def _supervisor_of(self, workflow_type: str):
        supervisor = self.supervisors.get(workflow_type)
        if supervisor is None:
            supervisor = self.supervisors[workflow_type] = self.createActor(RunSupervisor)
            self.send(supervisor, Configure(type_supervisor_spec()))
        return supervisor

    def _supervisor_exited(self, address) -> None:
        """A type supervisor gave up (its Recorders kept crashing): start it again, resume its runs."""
        workflow_type = next((t for t, a in self.supervisors.items() if a == address), None)
        if workflow_type is None:
            return
        del self.supervisors[workflow_type]
        lost = [w for w, t in self.type_of.items() if t == workflow_type]
        for workflow_id in lost:
            self.runs.pop(workflow_id, None)
            self.type_of.pop(workflow_id, None)
            self.touched.pop(workflow_id, None)
            self.asked.discard(workflow_id)
            for then in self.coming.pop(workflow_id, ()):
                self.loading.setdefault(workflow_id, []).append(then)
        budget = self.supervisor_restarts.setdefault(
            workflow_type, RestartIntensity(TYPE_RESTART_INTENSITY, TYPE_RESTART_PERIOD))
        if not budget.record(time.monotonic()):
            log.error("the supervisor of workflow type %r keeps failing; its runs wait for the next "
                      "delivery or restart of the engine", workflow_type)
            return
        log.error("the supervisor of workflow type %r exited; starting it again and resuming %d runs",
                  workflow_type, len(lost))
        self._release()
        for workflow_id in lost:
            self._resume(workflow_id)
