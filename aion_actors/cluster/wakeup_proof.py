"""What a wake-up datagram is on the wire, and how a receiver judges one.

A wake-up carries no data: it only makes its receiver look at the store
early. So judging one never decodes anything beyond fixed-size fields:

- Without a secret (loopback only) a wake-up is the one byte `PLAIN`.
- With a secret it is 56 bytes: 8-byte big-endian time in ns since the
  epoch, 16 random bytes (the nonce), and HMAC-SHA256(secret, those 24
  bytes). The HMAC proves the sender knows the secret; the time bounds
  how long a captured datagram stays usable (`WINDOW_NS` either way,
  which also bounds how far apart the nodes' clocks may be); the nonce,
  remembered for that window, makes each datagram count once.

`Judge` holds the one piece of state, the nonces seen, and is used from
the waiting thread only. `prove` is a pure function any thread may call.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import os
import struct

PLAIN = b"\x01"
WINDOW_NS = 30 * 1_000_000_000
_HEAD = struct.Struct(">Q16s")
PROVEN_SIZE = _HEAD.size + hashlib.sha256().digest_size  # 56
MAX_DATAGRAM = PROVEN_SIZE + 1  # read one byte more than any valid size, so an oversized one shows


def prove(secret: bytes, now_ns: int, nonce: bytes | None = None) -> bytes:
    """A proven wake-up stamped `now_ns` (a fresh random nonce unless one is given)."""
    head = _HEAD.pack(now_ns, os.urandom(16) if nonce is None else nonce)
    return head + hmac.new(secret, head, hashlib.sha256).digest()


class Judge:
    """Decides whether a received datagram is a wake-up; remembers proven nonces for replay checks.

    Args:
        secret: the shared secret, or None for plain (loopback-only) wake-ups.
    """

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret
        self._seen: set[bytes] = set()
        self._stamps: list[tuple[int, bytes]] = []  # a heap of (stamp, nonce) of the nonces in _seen

    @property
    def size(self) -> int:
        """The one size a valid datagram has."""
        return len(PLAIN) if self._secret is None else PROVEN_SIZE

    def refusal(self, data: bytes, now_ns: int) -> str | None:
        """Why `data` is not a valid wake-up at `now_ns`, or None when it is (and its nonce is now spent)."""
        if len(data) != self.size:
            return f"wrong size ({len(data)} bytes, expected {self.size})"
        if self._secret is None:
            return None if data == PLAIN else "wrong content"
        head, mac = data[:_HEAD.size], data[_HEAD.size:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, head, hashlib.sha256).digest()):
            return "bad proof (a different AION_CLUSTER_SECRET, or none)"
        stamp, nonce = _HEAD.unpack(head)
        skew = stamp - now_ns
        if abs(skew) > WINDOW_NS:
            return (f"stamped {skew / 1e9:+.1f} s from this node's clock (allowed ±{WINDOW_NS // 10**9} s; "
                    f"keep the nodes' clocks in sync)")
        self._forget(now_ns)
        if nonce in self._seen:
            return "replayed (its nonce was already used)"
        self._seen.add(nonce)
        heapq.heappush(self._stamps, (stamp, nonce))
        return None

    def _forget(self, now_ns: int) -> None:
        # The time check refuses a stamp older than one window; keeping its nonce one window more means
        # our clock stepping back by less than that cannot make a captured datagram valid again.
        while self._stamps and self._stamps[0][0] < now_ns - 2 * WINDOW_NS:
            self._seen.discard(heapq.heappop(self._stamps)[1])
