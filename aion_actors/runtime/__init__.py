"""The Thespian runtime behind an `Engine`; `start_runtime(config, registry, clock)` is the one way in.

The engine uses nothing else of this package: `clock_for` (its clock, which a
test environment reads before the engine opens), `store_errors` (store
errors as `aion_actors` errors) and the `Runtime` handle that `start_runtime` returns.
"""

from .clock import SYSTEM_CLOCK, SkippingClock, SystemClock
from .context import store_errors
from .handle import Runtime, start_runtime


def clock_for(time_skipping: bool) -> SystemClock | SkippingClock:
    """The wall clock, or a virtual clock that skips to the next timer (tests)."""
    return SkippingClock() if time_skipping else SYSTEM_CLOCK


__all__ = ["Runtime", "clock_for", "start_runtime", "store_errors"]
