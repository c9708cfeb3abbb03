"""`ProcessWatcher`: a plain Thespian Actor hears of every child SIGKILLed, once each.

Thespian alone loses some of the `ChildActorExited` notices when several
children of one parent die at the same moment (FACTS.md); when it does not,
its own notice and the watch's must still make one. (Here, with idle
children, Thespian rarely loses one: the engine's test with three busy
attempts of one run is the one that hangs without the watch.)
"""

from __future__ import annotations

import os
import signal

from thespian.actors import Actor, ChildActorExited

from supervisors import ProcessWatcher

from .conftest import wait_for

CHILDREN = 3
ROUNDS = 4


class PidChild(Actor):
    """Tells its parent its process id, as its first message."""

    def receiveMessage(self, msg, sender):
        if msg == "start":
            self.send(sender, ("pid", os.getpid()))


class Watching(ProcessWatcher, Actor):
    """Starts children on request; answers "report" with the pids alive and the deaths heard."""

    def __init__(self) -> None:
        super().__init__()
        self.pids: dict[str, int] = {}   # child address string -> pid, while it lives
        self.deaths: list[str] = []      # child address strings, one per notice handled

    def receiveMessage(self, msg, sender):
        if self.watch_consumes(msg):
            return
        if msg == "spawn":
            for _ in range(CHILDREN):
                self.send(self.createActor(PidChild), "start")
        elif isinstance(msg, tuple) and msg[0] == "pid":
            self.pids[str(sender)] = msg[1]
            self.watch_process(sender, msg[1])
        elif isinstance(msg, ChildActorExited):
            self.deaths.append(str(msg.childAddress))
            self.pids.pop(str(msg.childAddress), None)
        elif msg == "report":
            self.send(sender, (dict(self.pids), list(self.deaths)))


def test_children_killed_together_are_each_reported_once(local):
    system = local.system
    parent = system.createActor(Watching)
    heard = 0
    for round_ in range(ROUNDS):
        system.tell(parent, "spawn")
        pids = wait_for(lambda: (r := system.ask(parent, "report", 5)[0]) and len(r) == CHILDREN and r,
                        f"round {round_}: the children to tell their pids")
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
        heard += CHILDREN
        wait_for(lambda: len(system.ask(parent, "report", 5)[1]) >= heard,
                 f"round {round_}: every death to be heard", detail=lambda: system.ask(parent, "report", 5))
    alive, deaths = system.ask(parent, "report", 5)
    assert alive == {} and len(deaths) == CHILDREN * ROUNDS  # none twice (addresses are reused: count them)
