"""A pytest suite every `ShardLeases` must pass.

Subclass `ShardLeasesConformance` in a test module (give the subclass a name
starting with `Test` so pytest collects it) and provide the hooks::

    from stores.conformance_leases import ShardLeasesConformance

    class TestMyLeases(ShardLeasesConformance):
        def make_store(self, tmp_path):
            return MyStore(tmp_path / "db")  # an EventStore and ShardLeases, default shard count

        def store_url(self, tmp_path):
            return None  # or a URL `stores.open_store` opens in another process

        def let_lapse(self, store, shard):
            ...  # optional: move the store's clock past the shard's lease

The store must implement `EventStore` too: the fencing cases append. Leases
are taken with `TTL` seconds; the default `let_lapse` polls the store's own
clock until the lease has lapsed (bounded), so keep `TTL` short.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ._conformance_kit import RUNNING, StoreFixture, make_events
from .base import Append
from .errors import StaleFence, StoreError
from .leases import DEFAULT_SHARDS, shard_of

TTL = 0.2
LONG = 60.0
_LAPSE_BOUND_S = 10.0


class ShardLeasesConformance(StoreFixture):
    """Behaviours every `ShardLeases` shares. Not collected by itself (no `Test` prefix)."""

    # -- hooks -------------------------------------------------------------

    def make_store(self, tmp_path: Path) -> Any:
        """A fresh, empty store (EventStore and ShardLeases) with the default shard count."""
        raise NotImplementedError

    def store_url(self, tmp_path: Path) -> str | None:
        """A URL another OS process opens as the same store; `None` skips the cross-process case."""
        return None

    def let_lapse(self, store: Any, shard: int) -> None:
        """Return once the shard's lease has lapsed by the store's clock (taken with `TTL`)."""
        deadline = time.monotonic() + _LAPSE_BOUND_S
        while store.leases()[shard].live:
            assert time.monotonic() < deadline, f"the lease of shard {shard} never lapsed"
            time.sleep(0.02)  # polling the store's clock, not guessing at it

    # -- shards -------------------------------------------------------------

    def test_every_shard_starts_free_with_token_0(self, store: Any) -> None:
        assert store.shard_count() == DEFAULT_SHARDS
        rows = store.leases()
        assert [r.shard for r in rows] == list(range(DEFAULT_SHARDS))
        assert all((r.owner, r.token, r.expires_at, r.live) == (None, 0, None, False) for r in rows)

    def test_shard_of_is_a_stable_hash_of_the_id(self) -> None:
        # Pinned values: every node, in any process or Python version, must compute the same.
        assert [shard_of(w, 64) for w in ("order-1", "order-2", "a", "")] == [47, 21, 3, 0]

    # -- acquiring, renewing, releasing ---------------------------------------

    def test_a_free_shard_is_taken_with_token_1_and_refused_to_another_node(self, store: Any) -> None:
        assert store.acquire(5, "node-a", LONG) == 1
        assert store.acquire(5, "node-b", LONG) is None
        assert store.acquire(5, "node-a", LONG) == 1  # extending our own live lease keeps the token
        row = store.leases()[5]
        assert (row.owner, row.token, row.live) == ("node-a", 1, True)
        assert row.expires_at > store.now()

    def test_a_lapsed_lease_goes_to_the_next_node_with_the_next_token(self, store: Any) -> None:
        assert store.acquire(7, "node-a", TTL) == 1
        self.let_lapse(store, 7)
        assert store.renew("node-a", [7], LONG) == set()  # lapsed is lost, even if nobody took it yet
        assert store.acquire(7, "node-b", LONG) == 2
        assert store.acquire(7, "node-a", LONG) is None
        assert store.leases()[7].owner == "node-b"

    def test_a_lapsed_lease_taken_back_by_its_owner_gets_a_new_token(self, store: Any) -> None:
        assert store.acquire(2, "node-a", TTL) == 1
        self.let_lapse(store, 2)
        assert store.acquire(2, "node-a", LONG) == 2

    def test_renew_returns_only_the_shards_still_held(self, store: Any) -> None:
        assert store.acquire(1, "node-a", LONG) == 1
        assert store.acquire(2, "node-a", TTL) == 1
        assert store.acquire(3, "node-b", LONG) == 1
        self.let_lapse(store, 2)
        assert store.acquire(2, "node-b", LONG) == 2
        assert store.renew("node-a", [1, 2, 3, 4], LONG) == {1}
        assert store.renew("node-a", [], LONG) == set()
        assert store.leases()[1].expires_at > store.now()

    def test_only_the_holder_with_its_token_releases(self, store: Any) -> None:
        assert store.acquire(4, "node-a", LONG) == 1
        assert store.release(4, "node-b", 1) is False
        assert store.release(4, "node-a", 0) is False
        assert store.leases()[4].owner == "node-a"
        assert store.release(4, "node-a", 1) is True
        row = store.leases()[4]
        assert (row.owner, row.token, row.live) == (None, 1, False)
        assert store.acquire(4, "node-b", LONG) == 2  # at once: no waiting out a released lease

    @pytest.mark.parametrize("call", [
        lambda s: s.acquire(DEFAULT_SHARDS, "n", 1.0), lambda s: s.acquire(-1, "n", 1.0),
        lambda s: s.acquire(0, "", 1.0), lambda s: s.acquire(0, "n", 0), lambda s: s.acquire(0, "n", True),
        lambda s: s.renew("n", [DEFAULT_SHARDS], 1.0), lambda s: s.release("1", "n", 1),
        lambda s: s.heartbeat("n", ["not", "a", "dict"]), lambda s: s.heartbeat("n", {"x": object()}),
        lambda s: s.nodes(-1),
    ])
    def test_malformed_arguments_are_refused(self, store: Any, call) -> None:
        with pytest.raises(StoreError):
            call(store)
        assert all(r.owner is None for r in store.leases()) and store.nodes(LONG) == []

    # -- fencing the write path ---------------------------------------------------

    def _in_shard(self, shard: int, n: int) -> list[str]:
        found = [w for w in (f"wf-{i}" for i in range(10_000)) if shard_of(w, DEFAULT_SHARDS) == shard]
        return found[:n]

    def test_a_stale_token_is_refused_and_not_written_while_the_current_one_is(self, store: Any) -> None:
        shard = 9
        stale_wf, current_wf = self._in_shard(shard, 2)
        other_wf = self._in_shard(10, 1)[0]
        assert store.acquire(shard, "node-a", LONG) == 1
        assert store.release(shard, "node-a", 1)
        assert store.acquire(shard, "node-b", LONG) == 2
        outcome = store.append_batch([
            Append(stale_wf, 0, make_events(stale_wf, 1, 2), RUNNING, fence=(shard, 1)),
            Append(current_wf, 0, make_events(current_wf, 1, 2), RUNNING, fence=(shard, 2)),
            Append(other_wf, 0, make_events(other_wf, 1, 1), RUNNING),  # unfenced: as a one-node engine
        ])
        refused, written, unfenced = outcome
        assert isinstance(refused, StaleFence)
        assert (refused.workflow_id, refused.shard, refused.token, refused.current) == (stale_wf, shard, 1, 2)
        assert (written, unfenced) == (None, None)
        assert store.get_summary(stale_wf) is None and store.read_history(stale_wf) == []
        assert store.get_summary(current_wf).last_seq == 2 and store.get_summary(other_wf).last_seq == 1
        with pytest.raises(StaleFence, match="stale"):
            store.append(current_wf, make_events(current_wf, 3, 1), 2, fence=(shard, 1))
        assert store.append(current_wf, make_events(current_wf, 3, 1), 2, fence=(shard, 2)) == 3

    def test_once_a_new_owner_has_its_token_the_old_owner_writes_nothing_more(self, store: Any) -> None:
        shard = 14
        wf = self._in_shard(shard, 1)[0]
        assert store.acquire(shard, "node-a", TTL) == 1
        refusals: list[StaleFence] = []
        written = threading.Semaphore(0)

        def old_owner() -> None:  # appends as fast as it can until the store refuses it
            seq, deadline = 0, time.monotonic() + 30
            while time.monotonic() < deadline:
                (outcome,) = store.append_batch([Append(wf, seq, make_events(wf, seq + 1, 1),
                                                        RUNNING if seq == 0 else None, fence=(shard, 1))])
                if outcome is not None:
                    refusals.append(outcome)
                    return
                seq += 1
                written.release()

        writer = threading.Thread(target=old_owner)
        writer.start()
        try:
            assert written.acquire(timeout=30)  # the old owner is writing
            self.let_lapse(store, shard)
            assert store.acquire(shard, "node-b", LONG) == 2
            last = store.get_summary(wf).last_seq
        finally:
            writer.join(timeout=60)
        assert [(r.token, r.current) for r in refusals] == [(1, 2)]
        assert store.get_summary(wf).last_seq == last  # nothing of the old owner's after the takeover
        assert [e.seq for e in store.read_history(wf)] == list(range(1, last + 1))

    def test_a_fence_of_a_shard_never_taken_is_stale(self, store: Any) -> None:
        wf = self._in_shard(11, 1)[0]
        (outcome,) = store.append_batch([Append(wf, 0, make_events(wf, 1, 1), RUNNING, fence=(11, 1))])
        assert isinstance(outcome, StaleFence) and outcome.current == 0
        assert store.get_summary(wf) is None

    def test_a_fence_naming_another_shard_refuses_the_whole_batch(self, store: Any) -> None:
        wf, good = self._in_shard(12, 1)[0], self._in_shard(13, 1)[0]
        with pytest.raises(StoreError, match="shard_of"):
            store.append_batch([Append(good, 0, make_events(good, 1, 1), RUNNING),
                                Append(wf, 0, make_events(wf, 1, 1), RUNNING, fence=(13, 1))])
        assert store.get_summary(good) is None

    # -- nodes ----------------------------------------------------------------

    def test_heartbeats_are_counted_and_listed_by_the_store_clock(self, store: Any) -> None:
        before = store.now()
        store.heartbeat("node-b", {"pid": 2})
        store.heartbeat("node-a", {"pid": 1, "host": "h"})
        store.heartbeat("node-a", {"pid": 11, "host": "h"})
        rows = store.nodes(LONG)
        assert [(r.node_id, r.info, r.beats, r.live) for r in rows] == [
            ("node-a", {"pid": 11, "host": "h"}, 2, True), ("node-b", {"pid": 2}, 1, True)]
        assert all(r.heartbeat_at >= before and r.age.total_seconds() >= 0 for r in rows)
        assert store.forget_node("node-b") and not store.forget_node("node-b")
        assert [r.node_id for r in store.nodes(LONG)] == ["node-a"]

    def test_a_silent_node_is_listed_as_not_live(self, store: Any) -> None:
        store.heartbeat("node-a", {})
        assert store.acquire(0, "probe", TTL) == 1
        self.let_lapse(store, 0)  # TTL of store time has passed since the heartbeat
        (row,) = store.nodes(TTL)
        assert not row.live and row.age.total_seconds() >= TTL

    # -- racing owners ------------------------------------------------------------

    def test_threads_racing_for_a_shard_yield_exactly_one_owner(self, store: Any) -> None:
        results: dict[str, int | None] = {}
        start = threading.Barrier(8)

        def race(node: str) -> None:
            start.wait(timeout=30)
            results[node] = store.acquire(20, node, LONG)

        threads = [threading.Thread(target=race, args=(f"node-{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        winners = {n: tok for n, tok in results.items() if tok is not None}
        assert len(results) == 8 and list(winners.values()) == [1]
        assert store.leases()[20].owner == next(iter(winners))

    PROCESS_RACER = textwrap.dedent("""
        import sys
        from stores import open_store
        store = open_store(sys.argv[1])
        won = [s for s in range(16) if store.acquire(s, sys.argv[2], 60.0) is not None]
        store.close()
        print(" ".join(map(str, won)))
    """)

    def test_processes_racing_for_shards_yield_exactly_one_owner_each(self, store: Any, tmp_path: Path) -> None:
        url = self.store_url(tmp_path)
        if url is None:
            pytest.skip("this store cannot be opened from another process (store_url returned None)")
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        children = [subprocess.Popen([sys.executable, "-c", self.PROCESS_RACER, url, f"node-{tag}"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for tag in ("a", "b", "c")]
        try:
            outputs = [child.communicate(timeout=120) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        for child, (_, err) in zip(children, outputs):
            assert child.returncode == 0, err
        won = {f"node-{tag}": {int(s) for s in out.split()} for tag, (out, _) in zip("abc", outputs)}
        every = [s for shards in won.values() for s in shards]
        assert sorted(every) == list(range(16))  # each shard went to exactly one racer
        rows = store.leases()
        assert all(rows[s].owner == node and rows[s].token == 1 for node, shards in won.items() for s in shards)
