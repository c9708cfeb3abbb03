"""The store writer: group commit for every Recorder of the engine.

Appends are buffered until the writer's own `Flush` reaches the front of
its mailbox, so everything that arrived meanwhile — from many workflows —
is written in one transaction. Each Recorder still hears about its own
append alone, and a conflict in one append does not fail the others.
"""

from __future__ import annotations

from thespian.actors import Actor, ActorExitRequest

from stores.errors import StoreError as _StoreLayerError

from ..errors import translate_store_error
from .messages import AppendDone, AppendRequest, Flush, InitWriter




class StoreWriter(Actor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.store = None
        self.pending: list[tuple[object, AppendRequest]] = []

    def receiveMessage(self, msg, sender):
        if isinstance(msg, AppendRequest):
            if not self.pending and not self.context.driver_flushes:
                self.send(self.myAddress, Flush())
            self.pending.append((sender, msg))
            self.context.writer_pending = True
        elif isinstance(msg, (Flush, ActorExitRequest)):
            self._flush()
        elif isinstance(msg, InitWriter):
            self.context = msg.context.get()
            self.store = self.context.store

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        self.context.writer_pending = False
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
