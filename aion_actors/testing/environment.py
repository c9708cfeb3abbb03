"""`WorkflowEnvironment`: an engine for tests, on a virtual clock, with activity mocks.

Time skipping works like temporalio's time-skipping test server: virtual
time runs along with wall time, and jumps to the next timer whenever a
client waits on a result (`env.execute`, `handle.result()`) and the engine
has nothing else to do — no request pending, no activity attempt running.
So a workflow that sleeps 30 days finishes in milliseconds, while one that
waits on a slow activity with a timeout still gets its activity's result.
`env.sleep(seconds)` moves virtual time on explicitly, firing every timer
that falls due at its own due time.

Between those waits virtual time moves only with wall time, so a test can
start a workflow, signal it and query it without a timeout firing behind
its back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from ..engine import Engine, WorkflowHandle
from ..errors import InvalidArgument
from ..runtime.clock import SkippingClock
from .mocks import install_mock, install_mocks


class WorkflowEnvironment:
    """An in-memory engine on the in-process runtime, with time skipping and activity mocks.

    Use it as a context manager::

        with WorkflowEnvironment(workflows=[order], activities=[charge],
                                 mocks={"charge": lambda order: "receipt-1"}) as env:
            assert env.execute(order, {"id": 1}) == {"receipt": "receipt-1"}

    Args:
        workflows / activities: as for `Engine`.
        mocks: activity (name or `@activity.defn` function) -> replacement
            function, served under that name; see `mock_activity`.
        store: a store URL or `EventStore`; default `"memory:"` (nothing on disk).
        auto_skip: skip to the next timer while a result is awaited (default).
            With False, virtual time moves only with wall time and `sleep`.
        **engine_options: other `Engine` keyword arguments (`idle_timeout`, ...).

    Raises:
        InvalidArgument: a mock for an activity name that is not registered,
            or `runtime=` other than "inprocess".
    """

    def __init__(self, workflows: Sequence[Callable[..., Any]] = (), activities: Sequence[Callable[..., Any]] = (),
                 *, mocks: Mapping[str | Callable[..., Any], Callable[..., Any]] | None = None,
                 store: Any = "memory:", auto_skip: bool = True, **engine_options: Any) -> None:
        self.engine = Engine(store, workflows=workflows, activities=activities, time_skipping=True,
                             **engine_options)
        self.clock: SkippingClock = self.engine._clock
        self.clock.auto_skip = auto_skip
        install_mocks(self.engine._registry, mocks or {})

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "WorkflowEnvironment":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> "WorkflowEnvironment":
        self.engine.open()
        return self

    def close(self) -> None:
        self.engine.close()

    # -- workflows -----------------------------------------------------------

    def start(self, workflow: Callable[..., Any] | str, input: Any = None, *, id: str | None = None) -> WorkflowHandle:
        """Start a workflow (see `Engine.start`); its handle's `result()` skips time while it waits."""
        return self.engine.start(workflow, input, id=id)

    def execute(self, workflow: Callable[..., Any] | str, input: Any = None, *, id: str | None = None,
                timeout: float = 60) -> Any:
        """Start a workflow and return its result, skipping time meanwhile.

        Raises what `WorkflowHandle.result` raises (`WorkflowFailed`, ...), and the
        built-in `TimeoutError` after `timeout` wall seconds.
        """
        return self.start(workflow, input, id=id).result(timeout=timeout)

    def get_handle(self, workflow_id: str) -> WorkflowHandle:
        return self.engine.get_handle(workflow_id)

    def mock_activity(self, activity: str | Callable[..., Any], fn: Callable[..., Any]) -> None:
        """Serve `fn` in place of `activity` (its name, or its `@activity.defn` function).

        Attempts dispatched from now on run `fn`, with the arguments the workflow
        passed (decoded to `fn`'s annotations) and the same `activity.info()`;
        its return value or exception is recorded as the activity's. Mock
        before starting the workflows that should see it.

        Raises:
            InvalidArgument: `activity` is a name no registered activity has.
        """
        install_mock(self.engine._registry, activity, fn)

    # -- time ----------------------------------------------------------------

    def now(self) -> datetime:
        """The virtual time: what the next recorded event (and `workflow.now()` after it) would read."""
        return self.clock.now()

    def sleep(self, seconds: float, *, timeout: float = 60) -> None:
        """Advance virtual time by `seconds`, firing each timer that falls due at its due time.

        Returns once the engine reached the new time and has nothing left to do
        there (timers fired, the workflows they woke waiting again). Virtual
        time does not jump while an activity attempt runs, so this waits for
        running attempts to finish.

        Raises:
            TimeoutError: `timeout` wall seconds passed first (an attempt still running).
            AionError: the environment is not open.
        """
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidArgument(f"env.sleep takes a number of seconds >= 0, got {seconds!r}")
        self.engine._require_open()
        if not self.clock.advance_engine(seconds, timeout):
            raise TimeoutError(f"virtual time could not advance {seconds}s within {timeout}s of wall time: "
                               f"an activity attempt is still running")
