"""Two repairs that let Thespian's simpleSystemBase hold ten thousand live actors.

Thespian 4.0.1 keeps an actor's children in a list and removes an exited
child with `list.index` (with a Python-level `__eq__` per comparison), and
it keeps a `None` registry entry for every actor that ever exited. With the
engine actor parenting every resident run's Recorder, 10,000 runs ending
together cost 10,000 x 10,000 comparisons (the timer benchmark saw 22 s
tails) and the registry grows without bound. Here the child list becomes an
insertion-ordered dict keyed by address string — same operations, O(1) —
and dead registry entries are dropped. Applied once, to this process only.

Both repairs rely on how simpleSystemBase uses the child list and the
registry; `SHAPE` lists every function that does, and importing this module
fails with `IncompatibleThespian` if any of them is not the one read.
"""

from __future__ import annotations

from thespian.actors import ChildActorExited
from thespian.system import simpleSystemBase as _simple

from .thespian_pin import Replaced, require

_ref, _base = _simple.ActorRef, _simple.ActorSystemBase
SHAPE = [
    # Replaced or wrapped:
    Replaced(_ref, "__init__", "(self, actorSystem, parentAddr, addr, inst, mySourceHash=None)",
             "0ddf597374c99a1b47e3751266754fcd99d4e4871bb42acbb0abdbe35cef8d9a"),
    Replaced(_ref, "removeChild", "(self, childAddr)",
             "5158389e00fc6bcb1749ffa80a04f77af212b8e04f480f8e0e1dd66b1b633803"),
    Replaced(_base, "_runSingleSend", "(self, ps)",
             "bb0e6284f3aa8837430040ee210fe0d64a884f9267ce6685d481de4ae9d0e55a"),
    # Use `_yung` with only the operations `_Children` provides (append, iterate, index + del):
    Replaced(_ref, "addChild", "(self, childAddr)",
             "1d16a2eb0cf890eac70816428770ff604da3c26b260ea7db9b2f935cbc7241c6"),
    Replaced(_ref, "shutdown", "(self)",
             "8662914e9da0686878e74c90d19abb5d5d81f49c7a7558b205d1cd9cb671d2e7"),
    Replaced(_base, "_callActorWithMessage", "(self, tgt, ps, msg, sndr)",
             "ec062e167985ecc56350e23997910c721d46afb9cd23bfdcce003d75f5dedbbb"),
    Replaced(_base, "_generateStatusResponse", "(self, msg, tgt, sndr)",
             "c3d3f6c4d89ee53184da316b028eb77ffb156002c452de8dc467f97408ff4375"),
]
require(__name__, SHAPE)


class _Children:
    """What simpleSystemBase does with `ActorRef._yung`, in O(1)."""

    __slots__ = ("_by_key",)

    def __init__(self, addresses=()) -> None:
        self._by_key = {a.actorAddressString: a for a in addresses}

    def append(self, address) -> None:
        self._by_key[address.actorAddressString] = address

    def index(self, address) -> str:
        key = address.actorAddressString
        if key not in self._by_key:
            raise ValueError(f"{address} is not a child")
        return key

    def __delitem__(self, key: str) -> None:
        del self._by_key[key]

    def __iter__(self):
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)


_patched = False


def patch_simple_base() -> None:
    global _patched
    if _patched:
        return
    _patched = True
    ref_init = _simple.ActorRef.__init__

    def init(self, *args, **kwargs):
        ref_init(self, *args, **kwargs)
        self._yung = _Children()

    def remove_child(self, address) -> None:
        try:
            del self._yung[self._yung.index(address)]
        except ValueError:
            pass

    run_single_send = _simple.ActorSystemBase._runSingleSend

    def run_single_send_and_forget_the_dead(self, pending) -> None:
        run_single_send(self, pending)
        if isinstance(pending.msg, ChildActorExited):
            key = pending.msg.childAddress.actorAddressString
            if key in self.actorRegistry and self.actorRegistry[key] is None:
                del self.actorRegistry[key]

    _simple.ActorRef.__init__ = init
    _simple.ActorRef.removeChild = remove_child
    _simple.ActorSystemBase._runSingleSend = run_single_send_and_forget_the_dead
