"""Errors a store raises.

The engine translates these into `aion_actors.StoreError` /
`aion_actors.SequenceConflict` at its boundary (those subclass both these and
`aion_actors.AionError`), so users of the engine catch one hierarchy while a
store stays independent of workflows.
"""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked: bad URL, corrupted row, unknown schema."""


class SequenceConflict(StoreError):
    """An append's `expected_seq` did not match the stored history.

    It means a second writer appended to the same workflow. Nothing of the
    refused append was written. Never retry blindly: re-read the history.
    """

    def __init__(self, workflow_id: str, expected: int, found: int) -> None:
        self.workflow_id = workflow_id
        self.expected = expected
        self.found = found
        super().__init__(
            f"sequence conflict on workflow {workflow_id!r}: expected last seq "
            f"{expected}, found {found} (another writer appended; re-read the history)"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.expected, self.found))


class StaleFence(StoreError):
    """An append carried a fencing token its shard has moved past.

    Another node took the shard over (or this one released it): the writer
    is no longer its owner. Nothing of the refused append was written. Stop
    serving the shard's workflows; do not retry.
    """

    def __init__(self, workflow_id: str, shard: int, token: int, current: int) -> None:
        self.workflow_id = workflow_id
        self.shard = shard
        self.token = token
        self.current = current
        super().__init__(
            f"append to workflow {workflow_id!r} refused: fencing token {token} of shard {shard} is stale "
            f"(current {current}); another node owns the shard now, stop serving its workflows"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.shard, self.token, self.current))
