"""A pytest suite every `EventStore` must pass.

Subclass `EventStoreConformance` in a test module (give the subclass a name
starting with `Test` so pytest collects it) and provide the hooks::

    from stores.conformance import EventStoreConformance

    class TestMyStore(EventStoreConformance):
        def make_store(self, tmp_path):
            return MyStore(tmp_path / "db")

        def store_url(self, tmp_path):
            return None  # or a URL `stores.open_store` opens in another process

        def corrupt_event(self, store, workflow_id, seq):
            ...  # damage the stored bytes of that event

Each test gets a fresh, empty store from `make_store` and closes it at the
end. Timestamps are fixed UTC datetimes, so results are deterministic.

The suite is split by concern into private modules (`_conformance_writes`,
`_conformance_reads`); this class is the one to subclass. The request inbox
has a suite of its own: `stores.conformance_requests.RequestInboxConformance`.

The builders the suite uses (`make_events`, `create`, `schedule`, `at`,
`RUNNING`, `T0`) are exported too, for a store's own extra tests.
"""

from __future__ import annotations

from ._conformance_kit import RUNNING, T0, at, create, make_events, schedule
from ._conformance_reads import ReadBehaviours
from ._conformance_writes import WriteBehaviours

__all__ = ["EventStoreConformance", "RUNNING", "T0", "at", "create", "make_events", "schedule"]


class EventStoreConformance(WriteBehaviours, ReadBehaviours):
    """Behaviours every `EventStore` shares. Not collected by itself (no `Test` prefix).

    Hooks: `make_store` (required), `corrupt_event` (required), `store_url`
    (optional: `None` skips the tests that need a second process).
    """
