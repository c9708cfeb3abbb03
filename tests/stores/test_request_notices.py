"""PostgreSQL's request notices: a listener hears of each request as it is committed, with its shard."""

from __future__ import annotations

from stores.leases import shard_of
from stores.url import open_store


def test_a_listener_hears_each_put_request_with_its_shard(postgres_url):
    with open_store(postgres_url) as store:
        notices = store.request_notices()
        try:
            assert notices.wait(0.05) == set()
            store.put_request("signal", "order-1", b"x")
            store.put_request("start", None, b"y")
            heard = set()
            for _ in range(50):  # each wait returns what arrived; both are sent at their commits
                heard |= notices.wait(0.1)
                if len(heard) == 2:
                    break
            assert heard == {shard_of("order-1", store.shard_count()), None}
        finally:
            notices.close()
        assert notices.wait(0.01) == set()  # closed: nothing, no error


def test_sqlite_has_no_notices_and_servers_poll(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/a.db") as store:
        assert store.request_notices() is None
