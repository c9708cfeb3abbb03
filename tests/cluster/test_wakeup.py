"""The wake-up fast path: a poke makes a waiting node look at the store now, and never raises."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest

from aion_actors import InvalidArgument
from aion_actors.cluster.wakeup import SECRET_ENV, Waker
from tests.waiting import wait_for

SECRET = "0123456789abcdef0123456789abcdef"
LONG = 30.0  # a wait that a prompt wake-up ends long before


@pytest.fixture(autouse=True)
def no_secret_from_the_environment(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)


@pytest.fixture(params=["plain", "proven"])
def pair(request):
    """A waiting Waker and a poking one, both on loopback, without and with a secret."""
    secret = SECRET if request.param == "proven" else None
    with Waker(secret=secret) as waiter, Waker(secret=secret) as poker:
        yield waiter, poker


def queued_bytes(waker: Waker) -> int:
    """Bytes the kernel holds for `waker`'s socket (rx_queue of /proc/net/udp): datagrams not yet read."""
    host, port = waker.address.rsplit(":", 1)
    with open("/proc/net/udp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == int(port):
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"{waker.address} is not in /proc/net/udp")


def test_a_poke_sent_before_the_wait_wakes_it_at_once(pair):
    waiter, poker = pair
    poker.poke(waiter.address)
    began = time.monotonic()
    assert waiter.wait(LONG) is True
    assert time.monotonic() - began < LONG / 2


def test_a_poke_sent_while_waiting_wakes_the_waiting_thread(pair):
    waiter, poker = pair
    waiting, outcome = threading.Event(), []

    def wait() -> None:
        waiting.set()
        began = time.monotonic()
        outcome.append((waiter.wait(LONG), time.monotonic() - began))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait()
    poker.poke(waiter.address)
    thread.join(LONG)
    woken, took = outcome[0]
    assert woken is True
    assert took < LONG / 2


def test_without_a_poke_wait_returns_false_after_its_timeout(pair):
    waiter, _ = pair
    began = time.monotonic()
    assert waiter.wait(0.2) is False
    assert time.monotonic() - began >= 0.2


def test_one_wait_drains_every_queued_poke(pair):
    waiter, poker = pair
    poker.poke(waiter.address)
    one = wait_for(lambda: queued_bytes(waiter), "the first poke to be queued")
    for _ in range(99):
        poker.poke(waiter.address)
    wait_for(lambda: queued_bytes(waiter) >= 100 * one, "100 pokes to be queued")
    assert waiter.wait(LONG) is True
    assert queued_bytes(waiter) == 0
    assert waiter.wait(0) is False


def test_a_waker_can_poke_itself_and_wake_itself_without_the_network():
    with Waker() as waker:
        waker.poke(waker.address)
        assert waker.wait(LONG) is True
        waker.wake()
        assert waker.wait(LONG) is True
        assert waker.wait(0) is False


def test_close_ends_a_wait_in_progress_with_false():
    waker = Waker()
    waiting, outcome = threading.Event(), []

    def wait() -> None:
        waiting.set()
        outcome.append(waker.wait(None))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait()
    waker.close()
    thread.join(LONG)
    assert outcome == [False]
    assert waker.wait(LONG) is False  # closed: returns at once
    waker.close()  # twice is harmless


def test_poke_never_raises_and_logs_why_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="aion_actors.cluster")
    with Waker() as poker:
        gone = Waker()
        gone.close()
        for address in ("not an address", "127.0.0.1:99999", "localhost:7400", gone.address):
            poker.poke(address)
    poker.poke(gone.address)  # a closed Waker sends nothing and says so
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("not an address" in m and "host:port" in m for m in messages), messages
    assert any("99999" in m for m in messages), messages
    assert any("localhost:7400" in m and "does not resolve" in m for m in messages), messages  # names: no lookup
    assert any("closed" in m for m in messages), messages


def test_the_address_is_the_bound_one_and_can_be_chosen():
    with Waker() as chosen_by_os:
        host, port = chosen_by_os.address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    with Waker(f"localhost:{free}") as explicit, Waker() as poker:
        assert explicit.address == f"127.0.0.1:{free}"
        poker.poke(explicit.address)
        assert explicit.wait(LONG) is True


def test_ipv6_loopback_needs_no_secret():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        waiter = Waker("[::1]:0")
    except InvalidArgument as exc:
        pytest.skip(f"::1 cannot be bound here: {exc}")
    with waiter, Waker("[::1]:0") as poker:
        assert waiter.address.startswith("[::1]:")
        poker.poke(waiter.address)
        assert waiter.wait(LONG) is True


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.1:port", ":7400", "127.0.0.1:70000", "no-such-host.invalid:0"])
def test_a_bad_bind_address_is_an_invalid_argument_naming_it(bind):
    with pytest.raises(InvalidArgument, match="address"):
        Waker(bind)


def test_a_port_in_use_is_an_invalid_argument():
    with Waker() as taken:
        with pytest.raises(InvalidArgument, match="cannot bind"):
            Waker(taken.address)


def held_udp_ports() -> set[int]:
    """Ports of the UDP sockets this process has open (its fds matched in /proc/self/net/udp)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    with open("/proc/self/net/udp") as table:
        return {int(row.split()[1].split(":")[1], 16) for row in table.readlines()[1:] if row.split()[9] in inodes}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_lets_go_of_the_parents_port():
    with Waker() as waker, Waker() as poker:
        port = int(waker.address.rsplit(":", 1)[1])
        assert port in held_udp_ports()
        pid = os.fork()
        if pid == 0:  # the child: report by exit code only, never return into pytest
            code = 3
            try:
                code = 1 if port in held_udp_ports() else (0 if waker.wait(0) is False else 2)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # 1: the child still held the port; 2: its Waker woke
        poker.poke(waker.address)  # the parent's Waker is untouched
        assert waker.wait(LONG) is True


def test_a_request_and_its_answer_each_wake_the_other_side_through_a_real_store(tmp_path):
    """The pattern the request server and the inbox client follow: the store holds the data, pokes the news."""
    from stores.url import open_store

    url = f"sqlite:///{tmp_path}/aion.db"
    with open_store(url) as client_store, open_store(url) as server_store, Waker() as node, Waker() as client:
        served = []

        def serve_once() -> None:
            while not served and node.wait(LONG):  # no poll interval: only a wake-up makes the node look
                for request in server_store.claim_requests("node-1", 4):
                    server_store.answer_request(request.id, b"done", None)
                    served.append(request.id)
                    node.poke(request.body.decode())  # the client's Waker, named in its request

        server = threading.Thread(target=serve_once)
        server.start()
        request_id = client_store.put_request("signal", "wf-1", client.address.encode())
        client.poke(node.address)
        assert client.wait(LONG) is True
        answered = client_store.get_request(request_id)
        server.join(LONG)
        assert served == [request_id]
        assert answered.answered and answered.reply == b"done"


def test_the_stores_notices_wake_the_node_only_for_shards_it_serves():
    from aion_actors.cluster.notices import NoticeRelay
    from aion_actors.cluster.ownership import Ownership

    class Notices:
        def __init__(self) -> None:
            self.batches = [{5}, {7}]
            self.closed = False

        def wait(self, timeout):
            if self.batches:
                return self.batches.pop(0)
            time.sleep(timeout)  # as the store's listener does when nothing arrives
            return set()

        def close(self):
            self.closed = True

    ownership = Ownership(8)
    ownership.gain({7: 1})
    with Waker() as waker:
        notices = Notices()
        relay = NoticeRelay(notices, ownership, waker).start()
        try:
            assert waker.wait(5.0)  # shard 7's notice; shard 5's alone would not have woken it
        finally:
            relay.stop()
        assert notices.closed and notices.batches == []
