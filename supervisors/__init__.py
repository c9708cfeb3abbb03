"""OTP-style supervision trees, links and monitors on Thespian.

A small tree: a root supervisor restarts a database worker on its own
(one_for_one) and a pool supervisor that runs any number of connection
handlers started on demand (simple_one_for_one)::

    from supervisors import (ChildSpec, Configure, LinkedActor, Start, StartChild,
                             Supervisor, SupervisorSpec, WhichChildren)

    class Handler(LinkedActor):              # a worker: implement receive()
        def receive(self, msg, sender):
            if msg == "bye":
                self.exit("normal")          # ends on purpose: tells its supervisor why
            elif msg == "boom":
                raise RuntimeError(msg)      # a crash: an abnormal exit

    class DbWorker(Handler):
        def receive(self, msg, sender):      # its init message arrives first
            if isinstance(msg, str) and msg.endswith(".sqlite"):
                self.path = msg
            else:
                super().receive(msg, sender)

    pool = SupervisorSpec("simple_one_for_one", children=(
        ChildSpec("handler", Start(Handler), restart="transient"),))
    root = SupervisorSpec("one_for_one", intensity=3, period=5.0, children=(
        ChildSpec("db", Start(DbWorker, "db.sqlite")),
        ChildSpec("pool", Start(Supervisor, Configure(pool)), type="supervisor",
                  shutdown="infinity"),
    ))
    sup = system.createActor(Supervisor)     # system: a Thespian ActorSystem
    assert system.ask(sup, Configure(root), 5).ids == ("db", "pool")
    pool_sup = system.ask(sup, WhichChildren(), 5).children[1].address
    handler = system.ask(pool_sup, StartChild(message=None), 5).address
    system.tell(handler, "boom")             # transient + abnormal: restarted

The pieces: `spec` (plain data; `check_childspecs` validates a list of
child specs), `messages` (the requests, replies, links and monitors),
`links` (`LinkedActor`: exit reasons, links, monitors; `ProcessWatcher`:
the death watch alone, for a plain Thespian Actor), `supervisor`
(`Supervisor`). Modules and names with a leading underscore are private:
restart rules as pure functions (`_decisions`), the supervisor's child
table and jobs, the supervisor ↔ child protocol.

The exit-reason protocol: a child that ends on purpose calls
``self.exit("normal")`` or ``self.exit("shutdown")`` (`LinkedActor` tells
its supervisor why and waits to be stopped); an exception in ``receive`` is
an abnormal exit; a process that dies without telling is reason "killed"
(abnormal); ``self.ignore()`` during the init message declines to start.
"""

from ._decisions import KILLED, NORMAL, SHUTDOWN, RestartIntensity
from .links import LinkedActor, ProcessWatcher
from .messages import (ERRORS, ChildCount, ChildStatus, Children, Configure, Configured, CountChildren,
                       DeleteChild, Deleted, Demonitor, Down, ExitSignal, GetChildSpec, Link, Monitor,
                       RestartChild, Shutdown, StartChild, Started, SupervisorError, TerminateChild,
                       Terminated, Unlink, WhichChild, WhichChildren)
from .spec import (AUTO_SHUTDOWN, CHILD_TYPES, RESTART_TYPES, STRATEGIES, ChildSpec, SpecError, Start,
                   SupervisorSpec, check_childspecs)
from .supervisor import MAX_INTENSITY, Supervisor

__all__ = [
    # the behaviours
    "Supervisor", "LinkedActor",
    # a plain Thespian Actor's watch over its children's processes (LinkedActor has it built in)
    "ProcessWatcher",
    # specs and their vocabulary
    "ChildSpec", "Start", "SupervisorSpec", "SpecError", "check_childspecs",
    "STRATEGIES", "RESTART_TYPES", "AUTO_SHUTDOWN", "CHILD_TYPES",
    # exit reasons
    "NORMAL", "SHUTDOWN", "KILLED", "MAX_INTENSITY",
    # requests to a supervisor, and its replies
    "Configure", "StartChild", "TerminateChild", "RestartChild", "DeleteChild", "WhichChildren",
    "WhichChild", "GetChildSpec", "CountChildren", "Shutdown",
    "Configured", "Started", "Terminated", "Deleted", "Children", "ChildStatus", "ChildCount",
    "SupervisorError", "ERRORS",
    # links and monitors
    "Link", "Unlink", "ExitSignal", "Monitor", "Demonitor", "Down",
    # OTP's restart intensity as a value, for an actor that restarts its own children by hand
    "RestartIntensity",
]
