"""`Runtime`: the one handle an `Engine` holds on its actors, store and driver.

`start_runtime(config, registry, clock)` opens the store (unless the config carries
one the caller owns), starts the actor system on its driver thread and
returns the handle; its methods are the only things the engine asks of the
runtime, and no actor message is built outside this package.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from stores.base import EventStore
from stores.url import open_store

from .. import events as ev
from ..config import EngineConfig
from ..definitions import Registry
from ..ids import new_run_id
from ..seam import EngineHandle
from .activities import ActivityRunner
from .clock import SkippingClock, SystemClock
from .context import Blueprint, RuntimeContext, forget_blueprint, register_blueprint, store_errors
from .driver import Driver
from .facade import ActorEngineHandle
from .messages import Recover, StartWorkflow, WaitResult


class Runtime:
    """A started runtime: the store, the seam, and the requests the engine makes of its actors.

    Not built directly: see `start_runtime`.
    """

    def __init__(self, config: EngineConfig, registry: Registry, clock: SystemClock | SkippingClock) -> None:
        self.config = config
        self.clock = clock
        with store_errors():
            self.store: EventStore = (open_store(config.store, durability=config.durability)
                                      if config.store_owned else config.store)
        try:
            runner = ActivityRunner(registry, lambda address, msg: self._driver.tell(address, msg),
                                    config.activity_workers, config.activity_cancel_grace)
        except BaseException:
            if config.store_owned:
                self.store.close()
            raise
        self.context = RuntimeContext(self.store, registry, runner, config, clock=clock)
        self._engine_id = new_run_id()
        if config.runtime == "local":
            register_blueprint(self._engine_id, Blueprint(config, registry))
        self._driver = Driver(self.context, self._engine_id)
        self.seam: EngineHandle = ActorEngineHandle(lambda msg: self._driver.tell(None, msg), self._driver.request)

    @property
    def system_handle(self) -> Any:
        """The actor system's handle (its processes and admin port): for tests of the runtime."""
        return self._driver.system_handle

    def _start(self, timeout: float) -> int:
        try:
            self._driver.start()
            return self._driver.request(lambda corr: Recover(corr)).result(timeout)
        except BaseException:
            self.close()
            raise

    def start_workflow(self, workflow_id: str, started: ev.WorkflowStarted, timeout: float) -> None:
        """Record `started` as the first event of `workflow_id` and run it; returns once recorded."""
        self._driver.request(lambda corr: StartWorkflow(corr, workflow_id, started)).result(timeout)

    def wait_result(self, workflow_id: str) -> concurrent.futures.Future:
        """A future for the run's end: (workflow type, terminal event) if it closes here; None if it
        had closed already (the store has it); `WorkflowNotFound` if unknown."""
        return self._driver.request(lambda corr: WaitResult(corr, workflow_id))

    def close(self) -> None:
        """Stop the actors, then the activity workers; close the store if it was opened here."""
        self._driver.stop()
        self.context.activities.shutdown()
        forget_blueprint(self._engine_id)
        if self.config.store_owned:
            self.store.close()


def start_runtime(config: EngineConfig, registry: Registry, clock: SystemClock | SkippingClock) -> tuple[Runtime, int]:
    """Start a runtime for `config` and resume the running workflows found in its store.

    Returns the runtime and how many workflows it resumed. Store errors are
    raised as `aion_actors.StoreError`; on any failure nothing is left running.
    """
    runtime = Runtime(config, registry, clock)
    return runtime, runtime._start(timeout=60)
