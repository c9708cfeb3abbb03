"""`Runtime`: the one handle an `Engine` holds on its actors, store and driver.

`start_runtime(config, registry, clock)` opens the store (unless the config carries
one the caller owns), starts the actor system on its driver thread and
returns the handle; its methods are the only things the engine asks of the
runtime, and no actor message is built outside this package.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from typing import Any

from stores.base import EventStore
from stores.inbox import RequestInbox
from stores.leases import ShardLeases
from stores.tasks import TaskQueues
from stores.url import open_store

from .. import events as ev
from .. import inbox
from ..cluster.directory import WakeDirectory
from ..cluster.membership import Membership, NodeHooks
from ..cluster.notices import NoticeRelay
from ..cluster.wakeup import ADDRESS_ENV, Waker
from ..cluster.ownership import Ownership
from ..config import EngineConfig
from ..definitions import Registry
from ..errors import AionError
from ..ids import new_node_id, new_run_id
from ..seam import EngineHandle
from .activities import ActivityRunner
from .clock import SkippingClock, SystemClock
from .context import Blueprint, RuntimeContext, forget_blueprint, register_blueprint, store_errors
from .driver import Driver
from .facade import ActorEngineHandle
from .messages import (DeliverToWorkflow, Drain, Recover, ShardsGained, ShardsLost, SpawnChild, StartWorkflow,
                       WaitResult)
from .routing import Router
from .task_watcher import TaskWatcher
from .task_worker import TaskWorker

log = logging.getLogger("aion_actors.cluster")


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
        self.node_id = config.node_id or new_node_id()
        self.membership: Membership | None = None
        self.waker: Waker | None = None
        self._relay: NoticeRelay | None = None  # the store's request notices, on PostgreSQL
        self.directory: WakeDirectory | None = None
        if isinstance(self.store, ShardLeases) and not config.owns_shards:
            with store_errors():
                ownership = Ownership(self.store.shard_count())  # never gains one: every call is routed
            self.directory = WakeDirectory(self.store, ownership.shards)
        elif not config.owns_shards:
            raise AionError(f"owns_shards=False needs a store shared by nodes (with shard leases and a request "
                            f"inbox, as every bundled store has); {type(self.store).__name__} has none")
        elif isinstance(self.store, ShardLeases):
            with store_errors():
                ownership = Ownership(self.store.shard_count())
            self.waker = Waker(config.cluster_address or os.environ.get(ADDRESS_ENV))
            self.membership = Membership(self.store, ownership, self.node_id, config.lease_ttl,
                                         capabilities=config.capabilities, wake=self.waker.address,
                                         takes_all=config.runtime == "local")
            self.directory = self.membership.directory = WakeDirectory(None, ownership.shards)
        else:  # a store of the user's own without leases: this engine is its only node
            ownership = Ownership(1, everything=True)
        self.context = RuntimeContext(self.store, registry, runner, config, ownership, clock=clock)
        self.task_worker: TaskWorker | None = None
        self._poker: Waker | None = None
        if isinstance(self.store, TaskQueues):
            self.context.task_watcher = TaskWatcher(self.store, lambda address, msg: self._driver.tell(address, msg))
        elif config.task_queues:
            if config.store_owned:
                self.store.close()
            raise AionError(f"task_queues needs a store with task queues (every bundled store has them); "
                            f"{type(self.store).__name__} does not implement stores.TaskQueues")
        self._registry = registry
        self._engine_id = new_run_id()
        self._driver = Driver(self.context, self._engine_id)
        self.seam: EngineHandle = ActorEngineHandle(lambda msg: self._driver.tell(None, msg), self._driver.request)

    @property
    def ownership(self) -> Ownership:
        return self.context.ownership

    def wake_addresses(self, workflow_id: str | None) -> tuple[str, ...]:
        """Whom to poke for a request about the workflow (see `cluster.directory`)."""
        return () if self.directory is None else self.directory.addresses_for(workflow_id)

    def call(self, kind: str, workflow_id: str | None, body: dict, timeout: float) -> Any:
        """A request to whichever node owns the workflow, through the store's inbox; its answer."""
        with store_errors():
            return inbox.call(self.store, kind, workflow_id, body, timeout=timeout,
                              wake=self.wake_addresses(workflow_id))

    def owns(self, workflow_id: str) -> bool:
        """Whether this node serves the workflow now (else its shard's owner does, reached through the inbox)."""
        return self.context.ownership.owns(workflow_id)

    @property
    def system_handle(self) -> Any:
        """The actor system's handle (its processes and admin port): for tests of the runtime."""
        return self._driver.system_handle

    def _start(self, timeout: float) -> int:
        try:
            if self.membership is not None:
                with store_errors():
                    self.membership.join()
                self._check_alone()
            if self.config.runtime == "local":
                register_blueprint(self._engine_id, Blueprint(self.config, self._registry, self.ownership))
            if isinstance(self.store, RequestInbox) and self.membership is not None:
                self.context.router = Router(self.call, self._driver.tell)
            self._driver.start()
            resumed = self._driver.request(lambda corr: Recover(corr)).result(timeout)
            if self.membership is not None and self.waker is not None and isinstance(self.store, RequestInbox):
                with store_errors():
                    notices = self.store.request_notices()
                if notices is not None:
                    self._relay = NoticeRelay(notices, self.ownership, self.waker).start()
            if self.config.task_queues:
                if self.waker is None:  # a worker-only node: a socket of its own to poke owners from
                    self._poker = Waker(self.config.cluster_address)
                with store_errors():
                    self.task_worker = TaskWorker(self.store, self._registry, self.node_id, self.config.task_queues,
                                                  self.config.task_lease, self.config.activity_cancel_grace,
                                                  on_finished=self._task_finished).start()
            if self.membership is not None:
                self.membership.start(NodeHooks(gained=self._gained, lost=self._lost, drain=self._drain,
                                                release_claims=self._release_claims, load=self._load))
            return resumed
        except BaseException:
            self.close()
            raise

    def _check_alone(self) -> None:
        if self.config.runtime == "local" and len(self.ownership.owned()) < self.ownership.shards:
            raise AionError(f"runtime 'local' serves its store alone, but other nodes own shards of "
                            f"{self.config.store!r}; stop them first, or serve it with runtime 'inprocess' nodes")

    # -- the node's hooks (called on its membership thread) ------------------------------

    def _gained(self, shards: set[int]) -> None:
        self._driver.tell(None, ShardsGained(frozenset(shards)))

    def _lost(self, shards: set[int]) -> None:
        self._driver.tell(None, ShardsLost(frozenset(shards)))

    def _drain(self, shards: set[int]) -> set[int]:
        return self._driver.request(lambda corr: Drain(corr, frozenset(shards))).result(10)

    def _release_claims(self, node_id: str) -> None:
        if isinstance(self.store, RequestInbox):
            self.store.release_claims(node_id)

    def woken(self) -> None:
        """This node's Waker was poked: a worker may have finished one of our tasks."""
        if self.context.task_watcher is not None and self.context.task_watcher.outstanding():
            self.context.task_watcher.wake()

    def _task_finished(self, task) -> None:
        """Poke the owner of the finished task's workflow, so its watcher reads the outcome now.

        Never raises (a missed poke costs the owner one poll interval)."""
        poker = self.waker or self._poker
        if poker is None:
            return
        try:
            addresses = self.wake_addresses(task.workflow_id)
        except Exception:  # noqa: BLE001 - the directory reads the store: the poke is only a hint
            return
        for address in addresses:
            poker.poke(address)

    def _load(self) -> dict[str, Any]:
        # load: the activity attempts running here, the work a node does beyond recording.
        remote = self.task_worker.running() if self.task_worker is not None else 0
        return {"resident": self.context.resident_runs, "load": self.context.activities.running() + remote,
                "runtime": self.config.runtime}

    # -- what a request server does for another node ---------------------------------

    def deliver(self, workflow_id: str, event: ev.Event, timeout: float) -> None:
        """Record `event` for the workflow and deliver it (a routed signal, child outcome, cancel)."""
        self._driver.request(lambda corr: DeliverToWorkflow(corr, workflow_id, event)).result(timeout)

    def spawn(self, msg: SpawnChild) -> None:
        """Start a child another node's run spawned (its outcome reaches the parent by routing)."""
        self._driver.tell(None, msg)

    def start_workflow(self, workflow_id: str, started: ev.WorkflowStarted, timeout: float) -> None:
        """Record `started` as the first event of `workflow_id` and run it; returns once recorded."""
        self._driver.request(lambda corr: StartWorkflow(corr, workflow_id, started)).result(timeout)

    def wait_result(self, workflow_id: str) -> concurrent.futures.Future:
        """A future for the run's end: (workflow type, terminal event) if it closes here; None if it
        had closed already (the store has it); `WorkflowNotFound` if unknown."""
        return self._driver.request(lambda corr: WaitResult(corr, workflow_id))

    def close(self) -> None:
        """Hand this node's shards off, stop the actors, then the activity workers; close the store if
        it was opened here."""
        if self.membership is not None and self.membership.joined:
            try:
                with store_errors():
                    self.membership.leave(drain_for=min(self.config.lease_ttl, 5.0) if self._driver.running else 0)
            except AionError:
                log.exception("node %s could not hand its shards off; they move when its leases lapse",
                              self.node_id)
        if self._relay is not None:
            self._relay.stop()
        if self.task_worker is not None:
            self.task_worker.close()
        self._driver.stop()
        if self.context.task_watcher is not None:
            self.context.task_watcher.close()
        if self.context.router is not None:
            self.context.router.close()
        if self.waker is not None:
            self.waker.close()
        if self._poker is not None:
            self._poker.close()
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
