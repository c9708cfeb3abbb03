"""The cluster's network security: loopback by default, a proven secret beyond it, nothing else heard.

A peer without the secret is refused, logged with its address (rate-limited)
and wakes nothing; a captured datagram cannot be replayed; binding beyond
loopback without a secret is refused; and a scan of `/proc/net` shows that an
engine, a Waker and an `aion worker` with default settings listen on
loopback only.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aion_actors as aion
from aion_actors import InvalidArgument, activity, workflow
from aion_actors.cluster.wakeup import SECRET_ENV, RefusalLog, Waker
from aion_actors.cluster.wakeup_proof import WINDOW_NS, prove
from tests.waiting import wait_for

SECRET = "a shared secret of at least 16 bytes"
REPO = str(Path(__file__).resolve().parents[2])
SHOP = str(Path(REPO) / "tests" / "cli" / "shop.py")


@pytest.fixture(autouse=True)
def no_secret_from_the_environment(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)


@pytest.fixture
def stranger():
    """A raw UDP socket on loopback: a peer that speaks no protocol of ours."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    yield raw
    raw.close()


def send(raw: socket.socket, waker: Waker, data: bytes) -> None:
    host, port = waker.address.rsplit(":", 1)
    raw.sendto(data, (host, int(port)))


def refusals(caplog, peer: socket.socket) -> list[str]:
    address = "%s:%d" % peer.getsockname()
    return [r.getMessage() for r in caplog.records
            if r.name == "aion_actors.cluster" and r.levelno == logging.WARNING and address in r.getMessage()]


def refused_without_waking(waker: Waker, caplog, peer: socket.socket, count: int = 1) -> list[str]:
    """Wait (never woken) until `count` refusals from `peer` are logged; return those lines."""
    def logged() -> list[str]:
        assert waker.wait(0.05) is False, "a refused datagram woke the Waker"
        found = refusals(caplog, peer)
        return found if len(found) >= count else []
    return wait_for(logged, f"{count} refusal(s) from {peer.getsockname()} to be logged")


def non_loopback_ip() -> str:
    """An address of this machine beyond loopback (no packet is sent to find it), else the wildcard."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: a UDP connect only picks the route's source address
        found = probe.getsockname()[0]
    except OSError:
        return "0.0.0.0"
    finally:
        probe.close()
    return "0.0.0.0" if ipaddress.ip_address(found).is_loopback else found


# -- peers without the secret --------------------------------------------------------------------


def test_a_plain_waker_refuses_anything_but_its_one_byte_and_logs_the_sender(caplog, stranger):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    with Waker() as waker:
        send(stranger, waker, os.urandom(56))
        [line] = refused_without_waking(waker, caplog, stranger)
        assert "wrong size (56 bytes, expected 1)" in line
    with Waker() as waker:  # a new Waker: its log has not heard from this peer yet
        send(stranger, waker, b"\x7f")  # the right size, not the wake-up byte
        [line] = refused_without_waking(waker, caplog, stranger, count=2)[1:]
        assert "wrong content" in line


@pytest.mark.parametrize("what", ["random bytes", "a wrongly keyed proof", "a plain wake-up", "an oversized datagram"])
def test_a_peer_without_the_secret_is_refused_logged_with_its_address_and_wakes_nothing(caplog, stranger, what):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    data = {"random bytes": os.urandom(56),
            "a wrongly keyed proof": prove(b"not the cluster's secret at all", time.time_ns()),
            "a plain wake-up": b"\x01",
            "an oversized datagram": prove(SECRET.encode(), time.time_ns()) + b"\0" * 1000}[what]
    with Waker(secret=SECRET) as waker:
        send(stranger, waker, data)
        [line] = refused_without_waking(waker, caplog, stranger)
    assert "refused a wake-up datagram from 127.0.0.1:%d" % stranger.getsockname()[1] in line
    expected = "bad proof" if what in ("random bytes", "a wrongly keyed proof") else "wrong size"
    assert expected in line


def test_a_replayed_datagram_is_refused(caplog, stranger):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    captured = prove(SECRET.encode(), time.time_ns())
    with Waker(secret=SECRET) as waker:
        send(stranger, waker, captured)
        assert waker.wait(30) is True  # the first copy is a valid wake-up
        send(stranger, waker, captured)
        [line] = refused_without_waking(waker, caplog, stranger)
    assert "replayed" in line


@pytest.mark.parametrize("skew", [-1, 1])
def test_a_datagram_stamped_outside_the_window_is_refused(caplog, stranger, skew):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    with Waker(secret=SECRET) as waker:
        send(stranger, waker, prove(SECRET.encode(), time.time_ns() + skew * (WINDOW_NS + 5 * 10**9)))
        [line] = refused_without_waking(waker, caplog, stranger)
    assert "keep the nodes' clocks in sync" in line


def test_proven_wakers_hear_each_other():
    with Waker(secret=SECRET) as waiter, Waker(secret=SECRET) as poker:
        assert waiter.proven and poker.proven
        for _ in range(3):  # every poke carries a fresh nonce, so none is taken for a replay
            poker.poke(waiter.address)
            assert waiter.wait(30) is True


def test_a_flood_logs_one_line_per_peer(caplog, stranger):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    with Waker(secret=SECRET) as waker:
        for _ in range(100):  # well within the socket's buffer (about 250 such datagrams), so none is dropped
            send(stranger, waker, os.urandom(56))
        refused_without_waking(waker, caplog, stranger)
        send(stranger, waker, prove(SECRET.encode(), time.time_ns()))  # behind the flood: still heard
        assert waker.wait(30) is True
    assert len(refusals(caplog, stranger)) == 1


def test_the_refusal_log_limits_lines_per_peer_and_in_all(caplog):
    caplog.set_level(logging.WARNING, logger="aion_actors.cluster")
    now = [0.0]
    book = RefusalLog(every=10.0, most=3, clock=lambda: now[0])
    for _ in range(5):
        book.refused("10.0.0.1:5000", "10.0.0.1", "bad proof")
    assert len(caplog.records) == 1
    now[0] = 10.0
    book.refused("10.0.0.1:5001", "10.0.0.1", "bad proof")
    assert "(4 more from 10.0.0.1 refused since its last line)" in caplog.records[-1].getMessage()
    for n in range(2, 10):  # forged sources: at most `most` lines in any 10 s
        book.refused(f"10.0.0.{n}:5000", f"10.0.0.{n}", "bad proof")
    assert len(caplog.records) == 1 + 3


# -- binding beyond loopback ---------------------------------------------------------------------


def test_binding_beyond_loopback_without_a_secret_is_refused():
    address = f"{non_loopback_ip()}:0"
    with pytest.raises(InvalidArgument, match=f"set {SECRET_ENV} to the same random value on every node"):
        Waker(address)


def test_binding_beyond_loopback_with_the_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with Waker(f"{non_loopback_ip()}:0") as waker:  # closed at once: nothing stays exposed
        assert waker.proven


@pytest.mark.parametrize("secret", ["short", b"0123456789"])
def test_a_short_secret_is_refused(secret):
    with pytest.raises(InvalidArgument, match="at least 16"):
        Waker(secret=secret)


# -- nothing listens beyond loopback -------------------------------------------------------------


def _socket_inodes(pid: str) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def _ip(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc/net prints each 32-bit word in host byte order.
    words = b"".join(raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    return getattr(ip, "ipv4_mapped", None) or ip


def bound_sockets(pid: str) -> list[tuple[str, str, int, bool]]:
    """(table, local ip, port, listening) of every TCP/UDP socket `pid` has open, from /proc.

    Listening means a TCP socket in LISTEN, or a UDP socket not connected to
    a peer (it takes datagrams from anyone who can reach its address).
    """
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as rows:
            for row in rows.readlines()[1:]:
                fields = row.split()
                if fields[9] not in inodes:
                    continue
                local, port = fields[1].split(":")
                remote_port = int(fields[2].split(":")[1], 16)
                listening = fields[3] == "0A" if table.startswith("tcp") else remote_port == 0
                found.append((table, str(_ip(local)), int(port, 16), listening))
    return found


def exposed(pid: str) -> list[tuple[str, str, int, bool]]:
    return [s for s in bound_sockets(pid) if s[3] and not ipaddress.ip_address(s[1]).is_loopback]


def descendants(pid: int) -> list[str]:
    """`pid` and every live process below it."""
    parents: dict[str, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[entry] = stat.read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
    family, frontier = [str(pid)], [str(pid)]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        family += frontier
    return family


@activity.defn
def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
async def hello(name: str) -> str:
    return await workflow.execute_activity(greet, name, start_to_close_timeout=30)


def test_an_engine_and_a_waker_with_default_settings_listen_on_loopback_only(tmp_path):
    with aion.Engine(f"sqlite:///{tmp_path}/aion.db", workflows=[hello], activities=[greet]) as engine, \
            Waker() as waker:
        assert engine.start(hello, "scan", id="scan-1").result(timeout=60) == "hello scan"
        mine = bound_sockets("self")
        assert ("udp", "127.0.0.1", int(waker.address.rsplit(":", 1)[1]), True) in mine  # the scan sees sockets
        assert exposed("self") == [], mine


def test_an_aion_worker_with_default_settings_listens_on_loopback_only(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}
    env.pop(SECRET_ENV, None)
    worker = subprocess.Popen([sys.executable, "-m", "aion_actors.cli", "worker", SHOP,
                               "--store", f"sqlite:///{tmp_path}/aion.db"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = worker.stdout.readline()
        assert banner.startswith("aion worker: serving"), (banner, worker.poll())
        found = {pid: bound_sockets(pid) for pid in descendants(worker.pid)}
        assert {pid: exposed(pid) for pid in found} == {pid: [] for pid in found}, found
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
        assert worker.returncode == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
