"""Actors for tests/test_runtime_system.py (importable by forked actor processes)."""

from __future__ import annotations

import os
import time

from thespian.actors import Actor, ActorSystemMessage, ChildActorExited


class Echo(Actor):
    """Replies with what it got; "pid" gets its process id."""

    def receiveMessage(self, msg, sender):
        if isinstance(msg, ActorSystemMessage):
            return
        self.send(sender, os.getpid() if msg == "pid" else msg)


class Parent(Actor):
    """("spawn", n) creates n Echo children and replies with their addresses;
    "exits" replies with the wall-clock times ChildActorExited arrived."""

    def __init__(self):
        super().__init__()
        self.exits = []

    def receiveMessage(self, msg, sender):
        if isinstance(msg, ChildActorExited):
            self.exits.append(time.time())
        elif isinstance(msg, ActorSystemMessage):
            return
        elif isinstance(msg, tuple) and msg[0] == "spawn":
            self.send(sender, [self.createActor(Echo) for _ in range(msg[1])])
        elif msg == "exits":
            self.send(sender, list(self.exits))
        elif msg == "pid":
            self.send(sender, os.getpid())
