"""`RequestInboxConformance`'s tests of routing: requests addressed to shards, claims that lapse with their claimant.

Private: subclass `stores.conformance_requests.RequestInboxConformance`, which
inherits these and provides the `inbox` fixture and `make_sharded_inbox`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from .errors import StoreError
from .inbox import Request, RequestInbox
from .leases import shard_of


def _workflows_of(shard: int, shards: int, count: int) -> list[str]:
    """`count` workflow ids whose shard is `shard`."""
    found = []
    for i in range(100_000):
        if shard_of(f"wf-{i}", shards) == shard:
            found.append(f"wf-{i}")
            if len(found) == count:
                return found
    raise AssertionError(f"no {count} workflow ids in shard {shard}")


class RoutingConformance:
    """The routing half of `RequestInboxConformance`, its base: use that one, which has the hooks and fixtures."""

    def test_a_request_is_addressed_to_its_workflows_shard(self, inbox: RequestInbox) -> None:
        shards = inbox.shard_count()  # type: ignore[attr-defined]
        names = [f"order-{i}" for i in range(20)] + ["", "é-ü-☃"]
        ids = {inbox.put_request("signal", name, b"") for name in names}
        unrouted = inbox.put_request("start", None, b"")
        for request_id, name in zip(sorted(ids), names):
            assert inbox.get_request(request_id).shard == shard_of(name, shards)
        assert inbox.get_request(unrouted).shard is None
        claimed = inbox.claim_requests("server", 100)
        assert {r.id: r.shard for r in claimed} == {r: inbox.get_request(r).shard for r in ids | {unrouted}}

    def test_a_sharded_store_addresses_by_its_own_count(self, tmp_path: Path) -> None:
        inbox = self.make_sharded_inbox(tmp_path, 8)  # type: ignore[attr-defined]
        try:
            assert inbox.shard_count() == 8  # type: ignore[attr-defined]
            names = [f"order-{i}" for i in range(40)]
            for name in names:
                inbox.put_request("signal", name, b"")
            got = inbox.claim_requests("server", 100)
            assert [r.shard for r in got] == [shard_of(name, 8) for name in names]
            assert {r.shard for r in got} == set(range(8))
        finally:
            inbox.close()

    def test_a_claim_by_shards_takes_only_those_and_the_unrouted_oldest_first(self, inbox: RequestInbox) -> None:
        shards = inbox.shard_count()  # type: ignore[attr-defined]
        mine, theirs = _workflows_of(1, shards, 3), _workflows_of(2, shards, 3)
        ids: dict[str, int] = {}
        for a, b in zip(mine, theirs):
            ids[a] = inbox.put_request("signal", a, b"")
            ids[b] = inbox.put_request("signal", b, b"")
        ids["none"] = inbox.put_request("start", None, b"")
        got = inbox.claim_requests("owner-of-0-1", 100, shards={0, 1})
        assert [r.id for r in got] == sorted([ids[w] for w in mine] + [ids["none"]])
        assert all(r.claimed_by == "owner-of-0-1" for r in got)
        assert inbox.claim_requests("owner-of-3", 100, shards=[3]) == []
        rest = inbox.claim_requests("owner-of-2", 2, shards=(2,))
        assert [r.id for r in rest] == [ids[w] for w in theirs[:2]]
        assert [r.shard for r in rest] == [2, 2]

    def test_an_empty_shard_set_claims_only_requests_about_no_workflow(self, inbox: RequestInbox) -> None:
        routed = inbox.put_request("signal", "wf", b"")
        unrouted = [inbox.put_request("start", None, b"%d" % i) for i in range(2)]
        assert [r.id for r in inbox.claim_requests("shardless", 10, shards=[])] == unrouted
        assert inbox.claim_requests("shardless", 10, shards=frozenset()) == []
        assert [r.id for r in inbox.claim_requests("anyone", 10)] == [routed]

    @pytest.mark.parametrize("shards", [[-1], ["1"], [1.0], [True], [None], 3, "1", b"\x01", "past the end"])
    def test_a_malformed_shard_set_is_refused_before_anything_is_claimed(self, inbox: RequestInbox,
                                                                          shards) -> None:
        if shards == "past the end":
            shards = [0, inbox.shard_count()]  # type: ignore[attr-defined]
        request_id = inbox.put_request("signal", "wf", b"")
        with pytest.raises(StoreError):
            inbox.claim_requests("server", 10, shards=shards)
        assert inbox.get_request(request_id).claimed_by is None

    def test_owners_of_disjoint_shards_racing_never_share_and_together_take_all(self, inbox: RequestInbox) -> None:
        shards = inbox.shard_count()  # type: ignore[attr-defined]
        total = 240
        for i in range(total):
            inbox.put_request("q", None if i % 6 == 0 else f"wf-{i}", b"%d" % i)
        owned = {"even": {s for s in range(shards) if s % 2 == 0}, "odd": {s for s in range(shards) if s % 2}}
        claimed: dict[str, list[Request]] = {tag: [] for tag in owned}
        start = threading.Barrier(len(owned))

        def claimer(tag: str) -> None:
            start.wait()
            while got := inbox.claim_requests(tag, 4, shards=owned[tag]):
                claimed[tag].extend(got)

        threads = [threading.Thread(target=claimer, args=(tag,)) for tag in owned]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        every = [r.id for got in claimed.values() for r in got]
        assert len(every) == total and len(set(every)) == total
        for tag, got in claimed.items():
            assert all(r.shard is None or r.shard in owned[tag] for r in got), tag

    def test_released_claims_go_to_the_next_claimer_and_answers_stay(self, inbox: RequestInbox) -> None:
        ids = [inbox.put_request("signal", f"wf-{i}", b"") for i in range(4)]
        survivor = inbox.put_request("signal", "wf-x", b"")
        assert [r.id for r in inbox.claim_requests("dead-node", 4)] == ids
        assert [r.id for r in inbox.claim_requests("live-node", 1)] == [survivor]
        assert inbox.answer_request(ids[1], reply=b"done")
        assert inbox.release_claims("dead-node") == 3
        assert inbox.release_claims("dead-node") == 0
        assert inbox.release_claims("never-claimed") == 0
        assert inbox.get_request(survivor).claimed_by == "live-node"
        heir = inbox.claim_requests("heir", 10)
        assert [(r.id, r.claimed_by) for r in heir] == [(ids[0], "heir"), (ids[2], "heir"), (ids[3], "heir")]
        answered = inbox.get_request(ids[1])
        assert (answered.claimed_by, answered.answered, answered.reply) == ("dead-node", True, b"done")

    def test_a_released_request_goes_to_the_owner_of_its_shard(self, inbox: RequestInbox) -> None:
        shards = inbox.shard_count()  # type: ignore[attr-defined]
        [workflow] = _workflows_of(5, shards, 1)
        request_id = inbox.put_request("signal", workflow, b"")
        assert [r.id for r in inbox.claim_requests("old-owner", 1, shards=[5])] == [request_id]
        assert inbox.release_claims("old-owner") == 1
        assert inbox.claim_requests("other-node", 10, shards=[4, 6]) == []
        assert [r.id for r in inbox.claim_requests("new-owner", 10, shards=[5])] == [request_id]

    @pytest.mark.parametrize("claimer", ["", None, 3])
    def test_a_malformed_release_is_refused(self, inbox: RequestInbox, claimer) -> None:
        request_id = inbox.put_request("signal", "wf", b"")
        inbox.claim_requests("server", 1)
        with pytest.raises(StoreError):
            inbox.release_claims(claimer)
        assert inbox.get_request(request_id).claimed_by == "server"
