"""Two repairs that let Thespian's simpleSystemBase hold ten thousand live actors.

Thespian 4.0.1 keeps an actor's children in a list and removes an exited
child with `list.index` (with a Python-level `__eq__` per comparison), and
it keeps a `None` registry entry for every actor that ever exited. With the
engine actor parenting every resident run's Recorder, 10,000 runs ending
together cost 10,000 x 10,000 comparisons (the timer benchmark saw 22 s
tails) and the registry grows without bound. Here the child list becomes an
insertion-ordered dict keyed by address string — same operations, O(1) —
and dead registry entries are dropped. Applied once, to this process only.
"""

from __future__ import annotations

from thespian.actors import ChildActorExited
from thespian.system import simpleSystemBase as _simple


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
