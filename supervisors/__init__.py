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

The pieces: `spec` (plain data and its validator), `decisions` (restart
rules as pure functions), `messages` (the protocol), `links` (`LinkedActor`:
exit reasons, links, monitors), `supervisor` (`Supervisor`).

The exit-reason protocol: a child that ends on purpose calls
``self.exit("normal")`` or ``self.exit("shutdown")`` (`LinkedActor` sends
`Exit(reason)` to its supervisor and waits to be stopped); an exception in
``receive`` is an abnormal exit; a process that dies without telling is
reason "killed" (abnormal).
"""

from .decisions import (KILLED, NORMAL, SHUTDOWN, RestartIntensity, is_normal,
                        should_auto_shutdown, should_restart, to_restart)
from .links import LinkedActor
from .messages import (ERRORS, ChildCount, ChildReady, ChildStatus, Children, Configure, Configured,
                       CountChildren, DeleteChild, Deleted, Demonitor, Down, Exit, ExitSignal, Link,
                       Monitor, RestartChild, Shutdown, StartChild, Started, Supervised,
                       SupervisorError, TerminateChild, Terminated, Unlink, WhichChildren)
from .spec import ChildSpec, SpecError, Start, SupervisorSpec, validate, validate_child
from .supervisor import MAX_INTENSITY, Supervisor

__all__ = [
    "KILLED", "NORMAL", "SHUTDOWN", "MAX_INTENSITY", "ERRORS",
    "RestartIntensity", "is_normal", "should_auto_shutdown", "should_restart", "to_restart",
    "LinkedActor", "Supervisor",
    "ChildSpec", "SpecError", "Start", "SupervisorSpec", "validate", "validate_child",
    "ChildCount", "ChildReady", "ChildStatus", "Children", "Configure", "Configured",
    "CountChildren", "DeleteChild", "Deleted", "Demonitor", "Down", "Exit", "ExitSignal", "Link",
    "Monitor", "RestartChild", "Shutdown", "StartChild", "Started", "Supervised",
    "SupervisorError", "TerminateChild", "Terminated", "Unlink", "WhichChildren",
]
