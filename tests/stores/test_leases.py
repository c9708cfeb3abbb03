"""The `ShardLeases` conformance suite on every bundled backend, and the shard count a store keeps."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stores import InMemoryStore, StoreError, open_store
from stores.conformance_leases import ShardLeasesConformance
from stores.sql import SqlStore

POSTGRES_URL = os.environ.get("AION_TEST_POSTGRES_URL")


class _Clock:
    """The memory store's clock, moved by the test instead of slept through."""

    def __init__(self) -> None:
        self.at = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.at


class TestInMemoryLeases(ShardLeasesConformance):
    def make_store(self, tmp_path: Path) -> Any:
        self.clock = _Clock()
        return InMemoryStore(clock=self.clock)

    def let_lapse(self, store: Any, shard: int) -> None:
        self.clock.at = store.leases()[shard].expires_at + timedelta(microseconds=1)


class TestSqliteFileLeases(ShardLeasesConformance):
    def make_store(self, tmp_path: Path) -> Any:
        return SqlStore(self.store_url(tmp_path))

    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/aion.db"


class TestSqliteMemoryLeases(ShardLeasesConformance):
    def make_store(self, tmp_path: Path) -> Any:
        return SqlStore("sqlite://")


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set AION_TEST_POSTGRES_URL to run the PostgreSQL conformance suite "
                                              "(.ci/run does)")
class TestPostgresLeases(ShardLeasesConformance):
    @pytest.fixture(autouse=True)
    def _fresh_database(self, postgres_url: str) -> None:
        self._url = postgres_url

    def make_store(self, tmp_path: Path) -> Any:
        return SqlStore(self._url)

    def store_url(self, tmp_path: Path) -> str:
        return self._url


def test_the_shard_count_is_fixed_when_the_store_is_created(tmp_path):
    url = f"sqlite:///{tmp_path}/aion.db"
    with open_store(url, shards=8) as store:
        assert store.shard_count() == 8 and len(store.leases()) == 8
    with open_store(url) as store:
        assert store.shard_count() == 8
    with open_store(url, shards=8) as store:
        assert store.shard_count() == 8
    with pytest.raises(StoreError, match="has 8 shards"):
        open_store(url, shards=16)


@pytest.mark.parametrize("shards", [0, -1, 2.0, "8"])
def test_a_malformed_shard_count_is_refused(tmp_path, shards):
    with pytest.raises(StoreError, match="shards"):
        open_store(f"sqlite:///{tmp_path}/aion.db", shards=shards)
    with pytest.raises(StoreError, match="shards"):
        open_store("memory:", shards=shards)


def test_the_memory_store_takes_a_shard_count():
    assert open_store("memory:", shards=4).shard_count() == 4
