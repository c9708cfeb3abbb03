"""A pytest suite every `RequestInbox` must pass.

Subclass `RequestInboxConformance` in a test module (give the subclass a name
starting with `Test` so pytest collects it) and provide the hooks::

    from stores.conformance_requests import RequestInboxConformance

    class TestMyInbox(RequestInboxConformance):
        def make_inbox(self, tmp_path):
            return MyStore(tmp_path / "db")

        def inbox_url(self, tmp_path):
            return None  # or a URL `stores.open_store` opens in another process

        def make_sharded_inbox(self, tmp_path, shards):
            return MyStore(tmp_path / "db", shards=shards)  # optional, see its docstring

Each test gets a fresh, empty inbox from `make_inbox` and closes it at the end.
The tests of routing by shard call the inbox's `shard_count()`
(`ShardLeases`), the count its requests are addressed by.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from .errors import StoreError
from ._conformance_routing import RoutingConformance
from .inbox import RequestInbox


class RequestInboxConformance(RoutingConformance):
    """Behaviours every `RequestInbox` shares. Not collected by itself (no `Test` prefix)."""

    # -- hooks -------------------------------------------------------------

    def make_inbox(self, tmp_path: Path) -> RequestInbox:
        """A fresh, empty inbox. Called once per test."""
        raise NotImplementedError

    def inbox_url(self, tmp_path: Path) -> str | None:
        """A URL `stores.open_store` opens, from another OS process, as the same
        inbox `make_inbox(tmp_path)` returned; `None` when the inbox cannot be
        shared across processes (that test is skipped)."""
        return None

    def make_sharded_inbox(self, tmp_path: Path, shards: int) -> RequestInbox:
        """A fresh, empty inbox on a store created with `shards` shards.

        By default `stores.open_store(self.inbox_url(tmp_path), shards=shards)`,
        before `make_inbox` has created anything there; skipped when
        `inbox_url` is `None`.
        """
        url = self.inbox_url(tmp_path)
        if url is None:
            pytest.skip("no inbox_url to open with shards=; override make_sharded_inbox")
        from .url import open_store

        return open_store(url, shards=shards)  # type: ignore[return-value]

    @pytest.fixture
    def inbox(self, tmp_path: Path) -> Iterator[RequestInbox]:
        inbox = self.make_inbox(tmp_path)
        try:
            yield inbox
        finally:
            inbox.close()

    # -- the life of a request -------------------------------------------------

    def test_a_request_round_trips_unclaimed(self, inbox: RequestInbox) -> None:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        first = inbox.put_request("signal", "wf-1", b"\x00\xffbody")
        second = inbox.put_request("start", None, b"")
        assert second > first
        got = inbox.get_request(first)
        assert (got.id, got.kind, got.workflow_id, got.body) == (first, "signal", "wf-1", b"\x00\xffbody")
        assert (got.claimed_by, got.answered, got.reply, got.error) == (None, False, None, None)
        assert got.created_at.tzinfo is not None and got.created_at >= before
        assert inbox.get_request(first) == got  # an unanswered request stays
        assert inbox.get_request(10_000) is None

    def test_claims_hand_out_the_oldest_first_and_each_once(self, inbox: RequestInbox) -> None:
        ids = [inbox.put_request("q", f"wf-{i}", b"%d" % i) for i in range(5)]
        first = inbox.claim_requests("server-a", 3)
        assert [r.id for r in first] == ids[:3]
        assert all(r.claimed_by == "server-a" for r in first)
        second = inbox.claim_requests("server-b", 10)
        assert [r.id for r in second] == ids[3:]
        assert inbox.claim_requests("server-c", 10) == []
        assert inbox.get_request(ids[4]).claimed_by == "server-b"

    def test_an_answer_is_read_once_then_gone(self, inbox: RequestInbox) -> None:
        ok = inbox.put_request("query", "wf", b"")
        failed = inbox.put_request("query", "wf", b"")
        inbox.claim_requests("server", 10)
        assert inbox.answer_request(ok, reply=b"\x01\x02")
        assert inbox.answer_request(failed, error="NotRunning")
        got = inbox.get_request(ok)
        assert (got.answered, got.reply, got.error) == (True, b"\x01\x02", None)
        assert inbox.get_request(ok) is None
        got = inbox.get_request(failed)
        assert (got.answered, got.reply, got.error) == (True, None, "NotRunning")
        assert inbox.get_request(failed) is None
        assert not inbox.answer_request(ok, reply=b"late")

    def test_withdraw_deletes_only_an_unclaimed_request(self, inbox: RequestInbox) -> None:
        waiting = inbox.put_request("signal", "wf", b"")
        taken = inbox.put_request("signal", "wf", b"")
        assert [r.id for r in inbox.claim_requests("server", 1)] == [waiting]
        assert not inbox.withdraw_request(waiting)
        assert inbox.get_request(waiting) is not None
        assert inbox.withdraw_request(taken)
        assert inbox.get_request(taken) is None
        assert inbox.claim_requests("server", 10) == []
        assert not inbox.withdraw_request(taken)

    def test_prune_deletes_requests_created_before_the_cutoff(self, inbox: RequestInbox) -> None:
        old = inbox.put_request("signal", "wf", b"")
        assert inbox.prune_requests(datetime.now(timezone.utc) - timedelta(hours=1)) == 0
        assert inbox.prune_requests(datetime.now(timezone.utc) + timedelta(seconds=1)) == 1
        assert inbox.get_request(old) is None

    def test_an_id_is_never_handed_out_again(self, inbox: RequestInbox) -> None:
        # Each time the highest request is deleted: a client still polling it must not read another's answer.
        read = inbox.put_request("signal", "wf", b"")
        inbox.claim_requests("server", 10)
        assert inbox.answer_request(read, reply=b"ok")
        assert inbox.get_request(read).answered
        withdrawn = inbox.put_request("signal", "wf", b"")
        assert withdrawn > read
        assert inbox.withdraw_request(withdrawn)
        pruned = inbox.put_request("signal", None, b"")
        assert pruned > withdrawn
        assert inbox.prune_requests(datetime.now(timezone.utc) + timedelta(seconds=1)) == 1
        after = inbox.put_request("signal", "wf", b"")
        assert after > pruned
        assert inbox.get_request(pruned) is None

    def test_prune_refuses_a_naive_cutoff(self, inbox: RequestInbox) -> None:
        kept = inbox.put_request("signal", "wf", b"")
        with pytest.raises(StoreError):
            inbox.prune_requests(datetime.now() + timedelta(days=1))
        assert inbox.get_request(kept) is not None

    # -- refusals and concurrency ---------------------------------------------------

    @pytest.mark.parametrize("args", [("", None, b""), ("kind", 3, b""), ("kind", None, "text")])
    def test_a_malformed_request_is_refused(self, inbox: RequestInbox, args) -> None:
        with pytest.raises(StoreError):
            inbox.put_request(*args)
        assert inbox.claim_requests("server", 10) == []

    @pytest.mark.parametrize("claimer, limit", [("", 1), ("server", 0), ("server", True)])
    def test_a_malformed_claim_is_refused(self, inbox: RequestInbox, claimer, limit) -> None:
        with pytest.raises(StoreError):
            inbox.claim_requests(claimer, limit)

    def test_concurrent_threads_never_claim_the_same_request(self, inbox: RequestInbox) -> None:
        total = 200
        for i in range(total):
            inbox.put_request("q", None, b"%d" % i)
        claimed: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        start = threading.Barrier(len(claimed))

        def claimer(tag: str) -> None:
            start.wait()
            while True:
                got = inbox.claim_requests(tag, 3)
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

    # argv: url, claimer[, shards as "1,2,3" ("" for none)]; prints "id:shard" of what it claimed.
    PROCESS_CLAIMER = textwrap.dedent("""
        import sys
        from stores import open_store
        inbox = open_store(sys.argv[1])
        shards = None if len(sys.argv) < 4 else [int(s) for s in sys.argv[3].split(",") if s]
        got = []
        while True:
            batch = inbox.claim_requests(sys.argv[2], 2, shards=shards)
            if not batch:
                break
            got.extend(f"{r.id}:{r.shard}" for r in batch)
        inbox.close()
        print(" ".join(got))
    """)

    def _claim_in_processes(self, tmp_path: Path, argvs: list[list[str]]) -> list[dict[int, int | None]]:
        """Run one `PROCESS_CLAIMER` per argv tail at once; what each claimed, id -> shard."""
        url = self.inbox_url(tmp_path)
        assert url is not None
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        children = [subprocess.Popen([sys.executable, "-c", self.PROCESS_CLAIMER, url, *argv], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for argv in argvs]
        try:
            outputs = [child.communicate(timeout=120) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        for child, (out, err) in zip(children, outputs):
            assert child.returncode == 0, err
        claimed = []
        for out, _ in outputs:
            pairs = [item.split(":") for item in out.split()]
            claimed.append({int(i): None if shard == "None" else int(shard) for i, shard in pairs})
        return claimed

    def test_concurrent_processes_never_claim_the_same_request(self, inbox: RequestInbox, tmp_path: Path) -> None:
        if self.inbox_url(tmp_path) is None:
            pytest.skip("this inbox cannot be opened from another process (inbox_url returned None)")
        total = 300
        for i in range(total):
            inbox.put_request("q", None, b"%d" % i)
        every = [i for got in self._claim_in_processes(tmp_path, [["A"], ["B"]]) for i in got]
        assert sorted(every) == sorted(set(every)) and len(every) == total

    def test_processes_owning_disjoint_shards_take_their_own_and_together_all(self, inbox: RequestInbox,
                                                                               tmp_path: Path) -> None:
        if self.inbox_url(tmp_path) is None:
            pytest.skip("this inbox cannot be opened from another process (inbox_url returned None)")
        shards = inbox.shard_count()  # type: ignore[attr-defined]
        total = 300
        for i in range(total):
            inbox.put_request("q", None if i % 10 == 0 else f"wf-{i}", b"%d" % i)
        owned = [set(range(0, shards, 3)), {s for s in range(shards) if s % 3}]
        argvs = [[tag, ",".join(map(str, sorted(mine)))] for tag, mine in zip("AB", owned)]
        claimed = self._claim_in_processes(tmp_path, argvs)
        every = [i for got in claimed for i in got]
        assert sorted(every) == sorted(set(every)) and len(every) == total
        for mine, got in zip(owned, claimed):
            assert all(shard is None or shard in mine for shard in got.values())
