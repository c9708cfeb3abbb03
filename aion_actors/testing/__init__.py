"""The test kit: run workflows fast and deterministically in your tests.

- `WorkflowEnvironment`: an in-memory engine whose clock skips ahead to the
  next timer while a result is awaited (a 30-day sleep takes milliseconds),
  with `env.sleep(seconds)` to move virtual time explicitly and activity
  mocks to replace side effects by name.
- `replay(history, workflow)`: re-run recorded histories against changed
  workflow code; raises `NonDeterminismError` where they no longer match.
- A pytest plugin (installed with the package) gives the `aion_env` fixture.
"""

from ..replayer import replay
from .environment import WorkflowEnvironment

__all__ = ["WorkflowEnvironment", "replay"]
