"""How a Recorder keeps its run actor alive, and lets it go when idle.

A mixin of `Recorder`: it supervises the run actor itself because only it
knows which appends are in flight. A run actor that dies without ending the
run is rebuilt by replay once every append in flight is committed (so the
store has them); one that dies more than `RUN_RESTART_INTENSITY` times in
`RUN_RESTART_PERIOD` seconds is parked (`WorkflowPaused`) until resumed.
Passivation: asked by the engine, the run agrees only when it waits on
deliveries alone; whatever arrives meanwhile cancels it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from thespian.actors import ActorExitRequest, ChildActorExited

from supervisors import KILLED, RestartIntensity

from .. import events as ev
from .. import status as st
from .messages import InitWorkflow, Passivate, Passivated, RunCrashed, RunIdle
from .workflow_actor import WorkflowActor

log = logging.getLogger("aion_actors.recorder")

# A run whose actor dies more often than this is parked (Paused), not restarted:
# OTP's restart intensity, per run, so one crash-looping run never takes its type down.
RUN_RESTART_INTENSITY = 3
RUN_RESTART_PERIOD = 60.0


@dataclass(frozen=True, slots=True)
class ParkRun:
    """A pending append: the `WorkflowPaused` of a crash loop. Nobody waits for it."""


class RunSupervision:
    """Needs from the actor: `workflow_id`, `status`, `pending`, `fenced`, `unstarted`, `ref`,
    `engine`, `context`, `_append`, `send`, `createActor`, `myAddress`."""

    def _init_supervision(self) -> None:
        self.run_actor = None
        self.restarts = RestartIntensity(RUN_RESTART_INTENSITY, RUN_RESTART_PERIOD)
        self.crash_reason = KILLED
        self.parked = False  # stopped respawning after a crash loop, until resumed
        self.respawn_wanted = False
        self.passivating = False   # a Passivate went to the run actor; deliveries meanwhile cancel it
        self.delivered_while_passivating = False
        self.passivated = False    # stopped: anything arriving now goes back to the engine to re-route
        self.next_record = 1  # the token of the run actor's next Record to append
        self.records_waiting: dict[int, object] = {}  # its Records that overtook an earlier one

    def _spawn_run(self, history, fresh: bool = False) -> None:
        self.run_actor = self.createActor(WorkflowActor)
        self.next_record = 1
        self.records_waiting.clear()
        self.send(self.run_actor, InitWorkflow(self.ref, self.workflow_id, tuple(history),
                                               self.myAddress, self.engine, fresh))

    def _run_exited(self, msg: ChildActorExited, sender) -> None:
        if msg.childAddress != self.run_actor or self.fenced:
            return
        self.run_actor = None
        if self.status is None or self.status.is_terminal or self.status is st.WorkflowStatus.PAUSED:
            return
        # The run's actor died without ending the run: rebuild it by replay, unless it keeps dying.
        reason, self.crash_reason = self.crash_reason, KILLED
        if not self.restarts.record(time.monotonic()):
            self.parked = True
            log.error("workflow %s: its actor crashed %d times within %gs (last: %s); parked",
                      self.workflow_id, self.restarts.recent, RUN_RESTART_PERIOD, reason)
            self._append((ev.WorkflowPaused(
                f"the workflow actor crashed {self.restarts.recent} times within {RUN_RESTART_PERIOD:g}s "
                f"(last: {reason}); fix the cause, then resume it"),), ParkRun())
            return
        log.warning("workflow %s: its actor crashed (%s); rebuilding it by replay", self.workflow_id, reason)
        self._respawn()

    def _run_crashed(self, msg: RunCrashed, sender) -> None:
        if sender == self.run_actor:
            self.crash_reason = msg.reason

    def _resumed_after_parking(self) -> None:
        """Resumed after a crash loop: try again, from the store, with a fresh intensity."""
        self.parked = False
        self.restarts = RestartIntensity(RUN_RESTART_INTENSITY, RUN_RESTART_PERIOD)
        self._respawn()

    def _respawn(self) -> None:
        """Rebuild the run from the store, once every append in flight is committed (so it is there)."""
        if self.pending:
            self.respawn_wanted = True
            return
        self.respawn_wanted = False
        self.unstarted.clear()
        self._spawn_run(self.context.read_history(self.workflow_id))

    def _passivate(self, msg: Passivate, sender) -> None:
        if self.run_actor is None or self.pending or self.passivating or self.fenced:
            return
        self.passivating = True
        self.delivered_while_passivating = False
        self.send(self.run_actor, msg)

    def _run_idle(self, msg: RunIdle, sender) -> None:
        self.passivating = False
        if msg.idle and not self.pending and not self.delivered_while_passivating:
            self.passivated = True
            self.send(self.engine, Passivated(self.workflow_id))
        elif msg.idle:
            # Something arrived after the run closed its code: rebuild it by replay, it is not idle.
            self.send(self.run_actor, ActorExitRequest())
            self.run_actor = None
            self._respawn()
