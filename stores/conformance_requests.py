"""The request inbox's share of the store conformance suite.

`EventStoreConformance` inherits these tests, so every store that subclasses
it (in memory, SQLite, PostgreSQL, a user's own) runs them; they use its
`store` fixture and `store_url` hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from .base import EventStore
from .errors import StoreError


class RequestInboxConformance:
    """Behaviours of `put_request` / `claim_requests` / `answer_request` / `get_request` / `withdraw_request`."""

    def store_url(self, tmp_path: Path) -> str | None:  # overridden by the store's suite
        return None

    def test_a_request_round_trips_unclaimed(self, store: EventStore) -> None:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        first = store.put_request("signal", "wf-1", b"\x00\xffbody")
        second = store.put_request("start", None, b"")
        assert second > first
        got = store.get_request(first)
        assert (got.id, got.kind, got.workflow_id, got.body) == (first, "signal", "wf-1", b"\x00\xffbody")
        assert (got.claimed_by, got.answered, got.reply, got.error) == (None, False, None, None)
        assert got.created_at.tzinfo is not None and got.created_at >= before
        assert store.get_request(first) == got  # an unanswered request stays
        assert store.get_request(10_000) is None

    def test_claims_hand_out_the_oldest_first_and_each_once(self, store: EventStore) -> None:
        ids = [store.put_request("q", f"wf-{i}", b"%d" % i) for i in range(5)]
        first = store.claim_requests("server-a", 3)
        assert [r.id for r in first] == ids[:3]
        assert all(r.claimed_by == "server-a" for r in first)
        second = store.claim_requests("server-b", 10)
        assert [r.id for r in second] == ids[3:]
        assert store.claim_requests("server-c", 10) == []
        assert store.get_request(ids[4]).claimed_by == "server-b"

    def test_an_answer_is_read_once_then_gone(self, store: EventStore) -> None:
        ok = store.put_request("query", "wf", b"")
        failed = store.put_request("query", "wf", b"")
        store.claim_requests("server", 10)
        assert store.answer_request(ok, reply=b"\x01\x02")
        assert store.answer_request(failed, error="NotRunning")
        got = store.get_request(ok)
        assert (got.answered, got.reply, got.error) == (True, b"\x01\x02", None)
        assert store.get_request(ok) is None
        got = store.get_request(failed)
        assert (got.answered, got.reply, got.error) == (True, None, "NotRunning")
        assert store.get_request(failed) is None
        assert not store.answer_request(ok, reply=b"late")

    def test_withdraw_deletes_only_an_unclaimed_request(self, store: EventStore) -> None:
        waiting = store.put_request("signal", "wf", b"")
        taken = store.put_request("signal", "wf", b"")
        assert [r.id for r in store.claim_requests("server", 1)] == [waiting]
        assert not store.withdraw_request(waiting)
        assert store.get_request(waiting) is not None
        assert store.withdraw_request(taken)
        assert store.get_request(taken) is None
        assert store.claim_requests("server", 10) == []
        assert not store.withdraw_request(taken)

    def test_prune_deletes_requests_created_before_the_cutoff(self, store: EventStore) -> None:
        old = store.put_request("signal", "wf", b"")
        assert store.prune_requests(datetime.now(timezone.utc) - timedelta(hours=1)) == 0
        assert store.prune_requests(datetime.now(timezone.utc) + timedelta(seconds=1)) == 1
        assert store.get_request(old) is None

    @pytest.mark.parametrize("args", [("", None, b""), ("kind", 3, b""), ("kind", None, "text")])
    def test_a_malformed_request_is_refused(self, store: EventStore, args) -> None:
        with pytest.raises(StoreError):
            store.put_request(*args)
        assert store.claim_requests("server", 10) == []

    @pytest.mark.parametrize("claimer, limit", [("", 1), ("server", 0), ("server", True)])
    def test_a_malformed_claim_is_refused(self, store: EventStore, claimer, limit) -> None:
        with pytest.raises(StoreError):
            store.claim_requests(claimer, limit)

    def test_concurrent_threads_never_claim_the_same_request(self, store: EventStore) -> None:
        total = 200
        for i in range(total):
            store.put_request("q", None, b"%d" % i)
        claimed: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        start = threading.Barrier(len(claimed))

        def claimer(tag: str) -> None:
            start.wait()
            while True:
                got = store.claim_requests(tag, 3)
                if not got:
                    return
                claimed[tag].extend(r.id for r in got)

        threads = [threading.Thread(target=claimer, args=(tag,)) for tag in claimed]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        every = [i for ids in claimed.values() for i in ids]
        assert len(every) == total and len(set(every)) == total

    PROCESS_CLAIMER = textwrap.dedent("""
        import sys
        from stores.url import open_store
        store = open_store(sys.argv[1])
        got = []
        while True:
            batch = store.claim_requests(sys.argv[2], 2)
            if not batch:
                break
            got.extend(r.id for r in batch)
        store.close()
        print(" ".join(map(str, got)))
    """)

    def test_concurrent_processes_never_claim_the_same_request(self, store: EventStore, tmp_path: Path) -> None:
        url = self.store_url(tmp_path)
        if url is None:
            pytest.skip("this store cannot be opened from another process (store_url returned None)")
        total = 300
        for i in range(total):
            store.put_request("q", None, b"%d" % i)
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        children = [subprocess.Popen([sys.executable, "-c", self.PROCESS_CLAIMER, url, tag], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for tag in ("A", "B")]
        try:
            outputs = [child.communicate(timeout=120) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        for child, (out, err) in zip(children, outputs):
            assert child.returncode == 0, err
        every = [int(i) for out, _ in outputs for i in out.split()]
        assert sorted(every) == sorted(set(every)) and len(every) == total
