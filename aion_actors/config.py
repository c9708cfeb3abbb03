"""`EngineConfig`: every setting of an engine, validated once, before anything starts.

`Engine(...)` builds one from its keyword arguments; the runtime, its actors and
(on the "local" runtime) every actor process read their settings from it and
from nowhere else. A bad value raises `InvalidArgument` naming the setting and
what to give instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stores.inbox import RequestInbox

from .errors import InvalidArgument
from .task_queue import task_queues

RUNTIMES = ("inprocess", "local")
DURABILITIES = ("process", "fsync")
INPROCESS_MAX_RESIDENT = 10_000
LOCAL_MAX_RESIDENT = 64  # each resident run is two OS processes (Recorder, run) plus one per running activity
MIN_LEASE_TTL = 1.0
_IN_MEMORY_STORES = ("memory:", "sqlite://")


@dataclass(frozen=True)
class EngineConfig:
    """An engine's settings (see `Engine` for what each means).

    `max_resident=None` becomes the runtime's default (10,000 in process, 64 on
    "local"), so a built config always holds the value in force.
    """

    store: Any = "sqlite:///aion.db"   # a store URL, or an `EventStore` the caller owns
    runtime: str = "inprocess"
    durability: str = "process"
    activity_workers: int = 32
    idle_timeout: float = 60.0
    max_resident: int | None = None
    activity_cancel_grace: float = 5.0
    time_skipping: bool = False
    serve_requests: bool | None = None  # None: when the store has a request inbox (every bundled store)
    node_id: str | None = None         # None: host-pid-random, a new node each time
    lease_ttl: float = 10.0
    capabilities: tuple[str, ...] = ()
    cluster_address: str | None = None  # host:port for wake-ups; None: $AION_CLUSTER_ADDRESS, else loopback
    owns_shards: bool = True            # False: a client of the cluster; runs nothing, routes every call
    task_queues: Any = ()               # the task queues this engine serves: names or `TaskQueue`s
    task_lease: float = 10.0            # seconds a worker's claim on a task lasts unless renewed

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise InvalidArgument(f"unknown runtime {self.runtime!r}; available: {', '.join(RUNTIMES)}")
        if self.durability not in DURABILITIES:
            raise InvalidArgument(f"unknown durability {self.durability!r}; one of {', '.join(DURABILITIES)}")
        if self.time_skipping and self.runtime != "inprocess":
            raise InvalidArgument(f"time skipping needs runtime='inprocess' (one driver sees every timer and "
                                  f"activity); runtime {self.runtime!r} runs on wall time")
        if self.runtime == "local" and not self.store_shared_between_processes:
            raise InvalidArgument("runtime 'local' runs actors in other processes: give it a store URL they can "
                                  "open too (sqlite:///path.db or postgresql+psycopg://...)")
        if not _is_int(self.activity_workers) or self.activity_workers < 1:
            raise InvalidArgument(f"activity_workers must be an int >= 1, got {self.activity_workers!r}")
        if not _is_seconds(self.idle_timeout, forever=True):
            raise InvalidArgument(f"idle_timeout must be >= 0 seconds, got {self.idle_timeout!r}")
        max_resident = self.max_resident
        if max_resident is None:
            max_resident = LOCAL_MAX_RESIDENT if self.runtime == "local" else INPROCESS_MAX_RESIDENT
        if not _is_int(max_resident) or max_resident < 1:
            raise InvalidArgument(f"max_resident must be an int >= 1, got {max_resident!r}")
        if not _is_seconds(self.activity_cancel_grace):
            raise InvalidArgument(f"activity_cancel_grace must be a number of seconds >= 0, "
                                  f"got {self.activity_cancel_grace!r}")
        if not isinstance(self.time_skipping, bool):
            raise InvalidArgument(f"time_skipping must be True or False, got {self.time_skipping!r}")
        if self.serve_requests is not None and not isinstance(self.serve_requests, bool):
            raise InvalidArgument(f"serve_requests must be True, False or None, got {self.serve_requests!r}")
        if self.serve_requests and not self.store_owned and not isinstance(self.store, RequestInbox):
            raise InvalidArgument(f"serve_requests=True needs a store with a request inbox; "
                                  f"{type(self.store).__name__} does not implement stores.RequestInbox")
        if self.node_id is not None and (not isinstance(self.node_id, str) or not self.node_id.strip()
                                         or len(self.node_id) > 200 or self.node_id != self.node_id.strip()):
            raise InvalidArgument(f"node_id must be a non-empty string of at most 200 characters without "
                                  f"surrounding spaces, got {self.node_id!r}")
        if not _is_seconds(self.lease_ttl) or self.lease_ttl < MIN_LEASE_TTL:
            raise InvalidArgument(f"lease_ttl must be a number of seconds >= {MIN_LEASE_TTL} (a node renews its "
                                  f"leases several times per timeout), got {self.lease_ttl!r}")
        capabilities = (self.capabilities,) if isinstance(self.capabilities, str) else self.capabilities
        try:
            capabilities = tuple(capabilities)
        except TypeError:
            capabilities = None
        if capabilities is None or not all(isinstance(c, str) and c for c in capabilities):
            raise InvalidArgument(f"capabilities must be a list of non-empty strings, got {self.capabilities!r}")
        if self.cluster_address is not None and not isinstance(self.cluster_address, str):
            raise InvalidArgument(f"cluster_address must be 'host:port' or None, got {self.cluster_address!r}")
        if not isinstance(self.owns_shards, bool):
            raise InvalidArgument(f"owns_shards must be True or False, got {self.owns_shards!r}")
        if not self.owns_shards and (self.runtime != "inprocess" or self.serve_requests):
            raise InvalidArgument("an engine with owns_shards=False runs no workflow and serves no request: "
                                  "leave runtime and serve_requests at their defaults")
        if not _is_seconds(self.task_lease) or self.task_lease <= 0:
            raise InvalidArgument(f"task_lease must be a positive number of seconds (a worker renews its claims "
                                  f"about every third of it), got {self.task_lease!r}")
        object.__setattr__(self, "task_queues", task_queues(self.task_queues))
        object.__setattr__(self, "capabilities", capabilities)
        object.__setattr__(self, "lease_ttl", float(self.lease_ttl))
        object.__setattr__(self, "max_resident", max_resident)
        object.__setattr__(self, "idle_timeout", float(self.idle_timeout))
        object.__setattr__(self, "activity_cancel_grace", float(self.activity_cancel_grace))

    @property
    def store_shared_between_processes(self) -> bool:
        """Whether other processes can open this store by its URL (a file or a database server)."""
        return isinstance(self.store, str) and self.store not in _IN_MEMORY_STORES \
            and not self.store.startswith("sqlite:///:memory:")

    @property
    def store_owned(self) -> bool:
        """Whether the engine opens (and closes) the store itself: given a URL, not an `EventStore`."""
        return isinstance(self.store, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object, forever: bool = False) -> bool:
    """A duration: a number >= 0 (and finite unless `forever` may be infinite)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value \
        and (forever or value < math.inf)
