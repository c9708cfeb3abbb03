"""Actors for the supervisor tests (module level, so forked processes can unpickle them).

Every `Worker` appends ``start <id> <pid>`` when its init message arrives and
``stop <id> <reason>`` when it ends to a shared log file, so tests can check
start and stop order and pids on every runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from supervisors import ExitSignal, LinkedActor, Supervisor, SupervisorSpec


@dataclass(frozen=True)
class Cfg:
    """A Worker's init message."""

    log: str
    stall_on_shutdown: bool = False  # ignore Shutdown: the supervisor must force it
    fail_if: str = ""  # a path: while that file exists, the init message crashes (start fails)
    ignore: bool = False  # decline to start (LinkedActor.ignore)


def record(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_log(path: str) -> list[str]:
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        return []


class Worker(LinkedActor):
    """Requests: "pid", "id", "crash" (raises), ("exit", reason), "ignore"; `Cfg`
    is its init message ("crash" as init message makes its start fail)."""

    def __init__(self) -> None:
        super().__init__()
        self.cfg = None

    def receive(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, Cfg):
            if msg.fail_if and os.path.exists(msg.fail_if):
                raise RuntimeError("start refused")
            if msg.ignore:
                record(msg.log, f"ignore {self.child_id}")
                self.ignore()
                return
            self.cfg = msg
            record(msg.log, f"start {self.child_id} {os.getpid()}")
        elif msg == "ignore":
            self.ignore()  # too late: the actor is started
        elif msg == "pid":
            self.send(sender, os.getpid())
        elif msg == "id":
            self.send(sender, self.child_id)
        elif msg == "crash":
            raise RuntimeError("asked to crash")
        elif isinstance(msg, tuple) and msg[0] == "exit":
            self.exit(msg[1])

    def _on_shutdown(self, msg, sender) -> None:
        if self.cfg is not None and self.cfg.stall_on_shutdown:
            record(self.cfg.log, f"stall {self.child_id}")
            return
        super()._on_shutdown(msg, sender)

    def terminate(self, reason: Any) -> None:
        if self.cfg is not None:
            record(self.cfg.log, f"stop {self.child_id} {reason!r}")


class Linker(LinkedActor):
    """Links/monitors test actor. Requests: "spawn" creates a Worker child and
    replies its address; "trap"; ("link", addr), ("unlink", addr),
    ("monitor", addr), "demonitor"; ("exit", reason); "got" (the ExitSignal /
    Down messages received); "alive"."""

    def __init__(self) -> None:
        super().__init__()
        self.got = []
        self.ref = None

    def receive(self, msg: Any, sender: Any) -> None:
        if msg == "trap":
            self.trap_exit = True
            self.send(sender, "ok")
        elif msg == "spawn":
            self.send(sender, self.createActor(Worker))
        elif isinstance(msg, tuple) and msg[0] == "link":
            self.link(msg[1])
            self.send(sender, "ok")
        elif isinstance(msg, tuple) and msg[0] == "unlink":
            self.unlink(msg[1])
            self.send(sender, "ok")
        elif isinstance(msg, tuple) and msg[0] == "monitor":
            self.ref = self.monitor(msg[1])
            self.send(sender, "ok")
        elif msg == "demonitor":
            self.demonitor(self.ref)
            self.send(sender, "ok")
        elif msg == "got":
            self.send(sender, list(self.got))
        elif msg == "alive":
            self.send(sender, "yes")
        elif isinstance(msg, tuple) and msg[0] == "exit":
            self.exit(msg[1])
        elif isinstance(msg, ExitSignal) or type(msg).__name__ == "Down":
            self.got.append(msg)


class PoolSupervisor(Supervisor):
    """A supervisor whose init message is just a template spec (the OTP init/1 style)."""

    def init(self, message: Any) -> SupervisorSpec:
        return SupervisorSpec("simple_one_for_one", intensity=5, period=5.0, children=(message,))


class BrokenInit(Supervisor):
    """A supervisor whose init callback raises (OTP's init(fail))."""

    def init(self, message: Any) -> SupervisorSpec:
        raise ValueError("no spec today")
