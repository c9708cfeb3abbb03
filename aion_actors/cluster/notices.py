"""`NoticeRelay`: the store's request notices (PostgreSQL LISTEN/NOTIFY) wake this node's request server.

Across machines the wake-up datagrams need a reachable address and a shared
secret; the store's own notices need nothing but the database. A thread
here waits for them and wakes the node's `Waker` when a request for one of
the shards it serves (or for no workflow) was committed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .ownership import Ownership
from .wakeup import Waker

log = logging.getLogger("aion_actors.cluster")


class NoticeRelay:
    def __init__(self, notices: Any, ownership: Ownership, waker: Waker) -> None:
        self._notices = notices
        self._ownership = ownership
        self._waker = waker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aion-notices", daemon=True)

    def start(self) -> "NoticeRelay":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._notices.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                shards = self._notices.wait(1.0)
            except Exception:  # the listening connection broke: the request server's polls carry on
                if not self._stop.is_set():
                    log.exception("the store's request notices stopped; requests are seen at each poll")
                return
            serving = self._ownership.serving()
            if any(shard is None or shard in serving for shard in shards):
                self._waker.wake()
