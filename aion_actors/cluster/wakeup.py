"""`Waker`: the cluster's fast path, a datagram that makes a node look at the store now.

The store is the only transport between nodes: a call for a workflow owned
by another node is a request in the store's inbox, and its answer is
written there too. Polling the inbox costs latency, so the writer of a
request (or of an answer) also pokes the reader's `Waker`; the reader's
`wait()` returns at once and it reads the store. A wake-up carries no data
and nothing in it is decoded beyond a fixed-size check
(`aion_actors.cluster.wakeup_proof`); losing one only costs a poll
interval, so `poke()` never raises.

Security: by default a `Waker` binds to ``127.0.0.1`` (an OS-chosen port),
where only users of this machine can reach it and a wake-up is one fixed
byte. Binding any other address needs a shared secret
(``AION_CLUSTER_SECRET`` on every node, or ``secret=``); every datagram
must then carry a fresh HMAC of it. A refused datagram wakes nothing and
is logged (WARNING, logger ``aion_actors.cluster``) with its sender's
address, at most once per sender per 10 s.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import logging
import math
import os
import select
import socket
import threading
import time
import weakref

from ..errors import InvalidArgument
from .wakeup_proof import MAX_DATAGRAM, PLAIN, Judge, prove

log = logging.getLogger("aion_actors.cluster")

SECRET_ENV = "AION_CLUSTER_SECRET"
ADDRESS_ENV = "AION_CLUSTER_ADDRESS"  # host:port this machine's nodes and clients are reached at (default loopback)
DEFAULT_BIND = "127.0.0.1:0"
MIN_SECRET_BYTES = 16
_DRAIN_MAX = 1024  # datagrams read per look, so a flood cannot keep the waiter reading forever
_SECRET_HINT = "e.g. the output of: python -c \"import secrets; print(secrets.token_hex(32))\""


class Waker:
    """A UDP endpoint that other nodes poke to make its owner look at the store.

    One thread calls `wait()` (a second one would wait for its turn); any
    thread may `poke()` any address (its own included) or `wake()` it.
    Pokes reach Wakers of the same address family (IPv4 or IPv6) as this
    one's. A short-lived client (the CLI, an engine
    calling another node) makes one to receive its answer's wake-up and
    passes `address` along with its request.

    Args:
        bind: ``"host:port"`` to bind (``"[::1]:0"`` for IPv6; port 0 lets
            the OS choose). Default ``"127.0.0.1:0"``.
        secret: the cluster's shared secret; default the environment's
            ``AION_CLUSTER_SECRET``. With one, every datagram sent is
            proven and every datagram received must be.

    Raises:
        InvalidArgument: `bind` is not ``host:port``, does not resolve or
            cannot be bound; it is not a loopback address and there is no
            secret; or the secret is shorter than 16 bytes.
    """

    def __init__(self, bind: str | None = None, *, secret: str | bytes | None = None) -> None:
        bind = DEFAULT_BIND if bind is None else bind
        family, sockaddr = _resolve(bind, socket.AF_UNSPEC, "bind", 0)
        self._secret = _secret(secret)
        if self._secret is None and not _is_loopback(sockaddr[0]):
            raise InvalidArgument(f"binding the wake-up socket to {bind!r}, beyond loopback, needs a shared secret "
                                  f"so that only the cluster's nodes are heard: set {SECRET_ENV} to the same random "
                                  f"value on every node ({_SECRET_HINT}), or bind 127.0.0.1")
        self._family = family
        self._judge = Judge(self._secret)
        self._refusals = RefusalLog()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(sockaddr)
        except OSError as exc:
            self._sock.close()
            raise InvalidArgument(f"cannot bind the wake-up socket to {bind!r}: {exc}; pick another address or "
                                  f"port 0") from None
        self._sock.setblocking(False)
        # wake() and close() reach a thread blocked in wait() through this pair, not the network.
        self._bell, self._bell_ringer = socket.socketpair()
        self._bell.setblocking(False)
        self._closed = False
        self._waiting = threading.Lock()  # held by the thread in wait(); close() takes it before closing fds
        self._sending = threading.Lock()
        self._ready = _Readiness(self._sock, self._bell)
        self.address = _format(self._sock.getsockname())
        _OPEN.add(self)

    @property
    def proven(self) -> bool:
        """True when wake-ups are proven with a secret (56-byte datagrams), False for plain loopback ones."""
        return self._secret is not None

    def wait(self, timeout: float | None) -> bool:
        """Block until a valid wake-up arrives, `wake()` is called, or `timeout` seconds pass.

        Every datagram queued by then is read at once, so a burst of pokes
        is consumed by one call. Refused datagrams are logged and do not
        end the wait.

        Returns:
            True when woken; False on timeout or when the Waker is (or
            gets) closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._waiting:
            while not self._closed:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                datagrams, rung = self._ready.wait(remaining)
                if self._closed:
                    break
                woken = self._ring_out() if rung else False
                if datagrams and self._drain():
                    woken = True
                if woken:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    break
        return False

    def poke(self, address: str) -> None:
        """Send one wake-up to the Waker at `address` (its `address`: a numeric ``"host:port"``); never raises.

        Host names are not looked up: addresses come from other nodes'
        heartbeats and requests, and a DNS lookup could stall the caller
        for seconds. A wake-up is a hint: if it is lost, refused or cannot be sent, the
        receiver still finds the work at its next poll. Failures are logged
        at DEBUG.
        """
        try:
            _, sockaddr = _resolve(address, self._family, "poke", socket.AI_NUMERICHOST)
            data = PLAIN if self._secret is None else prove(self._secret, time.time_ns())
            with self._sending:
                if self._closed:
                    log.debug("not poking %s: this Waker is closed", address)
                    return
                self._sock.sendto(data, sockaddr)
        except (OSError, InvalidArgument) as exc:
            log.debug("could not poke %s: %s", address, exc)

    def wake(self) -> None:
        """Make the current (or next) `wait()` return True, without the network (a node waking itself)."""
        with self._sending:
            if not self._closed:
                self._ring()

    def close(self) -> None:
        """Stop: a thread in `wait()` returns False at once; later pokes of this Waker are not sent."""
        with self._sending:
            if self._closed:
                return
            self._closed = True
            self._ring()
        with self._waiting:
            self._sock.close()
            self._bell.close()
            self._bell_ringer.close()
        _OPEN.discard(self)

    def __enter__(self) -> "Waker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("proven" if self.proven else "plain")
        return f"<Waker {self.address} {state}>"

    def _forget_after_fork(self) -> None:
        # In a forked child: the parent owns the port. Holding it would keep it bound after the parent dies
        # (a restarted node could not bind its address again). The parent's threads do not exist here, so
        # the locks they may have held are replaced, not taken.
        self._closed = True
        self._waiting, self._sending = threading.Lock(), threading.Lock()
        for sock in (self._sock, self._bell, self._bell_ringer):
            sock.close()

    def _ring(self) -> None:
        try:
            self._bell_ringer.send(b"\0")
        except BlockingIOError:  # the pair's buffer is full of rings already: one more changes nothing
            pass

    def _ring_out(self) -> bool:
        try:
            while self._bell.recv(4096):
                pass
        except BlockingIOError:
            pass
        return True

    def _drain(self) -> bool:
        woken = False
        for _ in range(_DRAIN_MAX):
            try:
                data, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. an ICMP error reported on some platforms: nothing to read
                log.debug("the wake-up socket %s reported %s", self.address, exc)
                break
            reason = self._judge.refusal(data, time.time_ns())
            if reason is None:
                woken = True
            else:
                self._refusals.refused(_format(peer), peer[0], reason)
        return woken


class _Readiness:
    """Which of the datagram socket and the bell are readable; poll() where it exists, since select() fails on
    descriptors past FD_SETSIZE (1024), which a busy engine process can reach."""

    def __init__(self, sock: socket.socket, bell: socket.socket) -> None:
        self._sock, self._bell = sock, bell
        self._poll = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)
            self._poll.register(bell, select.POLLIN)

    def wait(self, timeout: float | None) -> tuple[bool, bool]:
        """(datagrams waiting, bell rung) after at most `timeout` seconds."""
        if self._poll is None:
            ready, _, _ = select.select([self._sock, self._bell], [], [], timeout)
            return self._sock in ready, self._bell in ready
        events = dict(self._poll.poll(None if timeout is None else math.ceil(timeout * 1000)))
        return bool(events.get(self._sock.fileno())), bool(events.get(self._bell.fileno()))


_OPEN: "weakref.WeakSet[Waker]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for waker in list(_OPEN):
        waker._forget_after_fork()
    _OPEN.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RefusalLog:
    """Logs refused datagrams, rate-limited so that a flood cannot fill the log.

    At most one line per sender host per `every` seconds, and at most
    `most` lines in all per `every` seconds (senders of UDP datagrams can
    forge their source address, so a per-sender limit alone is no bound).
    A line counts the refusals left unlogged since.
    """

    def __init__(self, every: float = 10.0, most: int = 20, clock=time.monotonic) -> None:
        self._every = every
        self._most = most
        self._clock = clock
        self._last: dict[str, float] = {}
        self._quiet: collections.Counter[str] = collections.Counter()
        self._lines: collections.deque[float] = collections.deque()

    def refused(self, peer: str, host: str, reason: str) -> None:
        """Log (or count) one refusal of a datagram from `peer` (``"host:port"``) of sender `host`."""
        now = self._clock()
        while self._lines and self._lines[0] <= now - self._every:
            self._lines.popleft()
        last = self._last.get(host)
        if (last is not None and now - last < self._every) or len(self._lines) >= self._most:
            self._quiet[host] += 1
            return
        quiet = self._quiet.pop(host, 0)
        log.warning("refused a wake-up datagram from %s: %s; it woke nothing%s", peer, reason,
                    f" ({quiet} more from {host} refused since its last line)" if quiet else "")
        self._last[host] = now
        self._lines.append(now)
        if len(self._last) > 4 * 1024:  # forged sources: forget hosts whose limit has lapsed
            for old in [h for h, t in self._last.items() if now - t >= self._every]:
                del self._last[old]
                self._quiet.pop(old, None)


def _secret(given: str | bytes | None) -> bytes | None:
    value = os.environ.get(SECRET_ENV) if given is None else given
    if value is None or value == "" or value == b"":
        return None
    secret = value.encode() if isinstance(value, str) else bytes(value)
    if len(secret) < MIN_SECRET_BYTES:
        origin = "secret=" if given is not None else SECRET_ENV
        raise InvalidArgument(f"{origin} is {len(secret)} bytes; a cluster secret needs at least {MIN_SECRET_BYTES} "
                              f"random bytes ({_SECRET_HINT}), the same on every node")
    return secret


@functools.lru_cache(maxsize=256)
def _resolve(address: str, family: int, purpose: str, flags: int) -> tuple[int, tuple]:
    """(family, sockaddr) of ``host:port``; cached, since nodes poke the same few addresses again and again."""
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"{purpose} address {address!r} is not host:port (e.g. 127.0.0.1:0 or [::1]:7400)")
    try:
        found = socket.getaddrinfo(host, int(port), family, socket.SOCK_DGRAM, 0, flags)
    except socket.gaierror as exc:
        raise InvalidArgument(f"{purpose} address {address!r} does not resolve: {exc}") from None
    return found[0][0], found[0][4]


def _is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _format(sockaddr: tuple) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
