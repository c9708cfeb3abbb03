"""`Ownership`: the shards this node holds now, with their fencing tokens.

Written by the node's membership thread as leases are won and lost, read by
the engine's actors and clients on other threads: a plain dict replaced
whole on every change, so a reader sees one consistent snapshot without a
lock. A workflow whose shard is not here is another node's: clients route
their calls through the store's request inbox, and the Recorder refuses to
append (the store would refuse the append's fence anyway).
"""

from __future__ import annotations

from stores.leases import shard_of


class Ownership:
    """Shard → fencing token for the shards this node owns.

    Args:
        shards: the store's shard count (fixed when the store was created).
        everything: a node that owns every shard without leases (a store
            with no `ShardLeases`): appends carry no fence, nothing routes.
    """

    __slots__ = ("shards", "_tokens", "_serving", "exclusive")

    def __init__(self, shards: int, *, everything: bool = False) -> None:
        self.shards = shards
        self.exclusive = everything
        self._tokens: dict[int, int] = {}
        self._serving: frozenset[int] = frozenset()  # owned and not being handed off

    def shard(self, workflow_id: str) -> int:
        return shard_of(workflow_id, self.shards)

    def owns(self, workflow_id: str) -> bool:
        """Whether new work for the workflow is done here: its shard is ours and not being handed off."""
        return self.exclusive or shard_of(workflow_id, self.shards) in self._serving

    def serving(self) -> frozenset[int]:
        return self._serving

    def fence(self, workflow_id: str) -> tuple[int, int] | None:
        """The `Append.fence` for this workflow, or None when its shard is not ours.

        A shard being handed off still has one: its resident runs finish what they
        are recording while they passivate.
        """
        shard = shard_of(workflow_id, self.shards)
        token = self._tokens.get(shard)
        return None if token is None else (shard, token)

    def owned(self) -> dict[int, int]:
        return self._tokens

    def gain(self, tokens: dict[int, int]) -> None:
        self._tokens = {**self._tokens, **tokens}
        self._serving = self._serving | frozenset(tokens)

    def hand_off(self, shards) -> None:
        """Take no new work for these shards: their runs passivate and are not revived here;
        what arrives for them waits in the store for their next owner."""
        self._serving = self._serving - frozenset(shards)

    def lose(self, shards) -> None:
        gone = set(shards)
        self._serving = self._serving - gone
        self._tokens = {s: t for s, t in self._tokens.items() if s not in gone}
