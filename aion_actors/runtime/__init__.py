"""The Thespian runtime behind an `Engine`; `start(config, registry, clock)` is the one way in."""

from .handle import Runtime, start

__all__ = ["Runtime", "start"]
