"""The store writer: group commit for every Recorder of the engine.

Appends are buffered until a `Flush` reaches the writer, so everything that
arrived meanwhile — from many workflows — is written in one transaction. Each
Recorder still hears about its own append alone, and a conflict in one append
does not fail the others. Who sends the `Flush` depends on the runtime: in
process, the driver, once the actors are quiet (it watches the writer's
`Backlog`); between processes, the writer itself, behind the appends queued.
"""

from __future__ import annotations

from thespian.actors import Actor, ActorExitRequest

from stores.errors import StoreError as _StoreLayerError

from ..errors import translate_store_error
from .messages import AppendDone, AppendRequest, Flush, InitWriter


class Backlog:
    """Whether the writer holds appends not yet flushed: set by the writer, read by the in-process driver.

    Both run on the driver's thread (the simple base runs actors inside the driver's `tell`),
    so a plain attribute is enough.
    """

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = False


class StoreWriter(Actor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.store = None
        self.backlog: Backlog | None = None  # None: nobody flushes for us
        self.pending: list[tuple[object, AppendRequest]] = []

    def receiveMessage(self, msg, sender):
        if isinstance(msg, AppendRequest):
            if self.backlog is None:
                if not self.pending:
                    self.send(self.myAddress, Flush())
            else:
                self.backlog.pending = True
            self.pending.append((sender, msg))
        elif isinstance(msg, (Flush, ActorExitRequest)):
            self._flush()
        elif isinstance(msg, InitWriter):
            self.store = msg.context.get().store
            self.backlog = msg.backlog

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        if self.backlog is not None:
            self.backlog.pending = False
        if not batch:
            return
        try:
            outcomes = self.store.append_batch([request.append for _, request in batch])
        except _StoreLayerError as exc:
            error = translate_store_error(exc)
            outcomes = [error] * len(batch)
        for (recorder, request), outcome in zip(batch, outcomes):
            self.send(recorder, AppendDone(request.token,
                                           translate_store_error(outcome) if outcome is not None else None))
