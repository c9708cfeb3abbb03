"""Retry policies for activities, and the pure decision of what follows a failed attempt."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Failure, InvalidArgument

_SHAPES = ("exponential", "linear", "fixed")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed activity attempt is retried.

    Without `retry=` an activity is attempted once. `max_attempts=None`
    retries without limit (bound it with `schedule_to_close_timeout`).
    `max_interval` defaults to 100 × `initial_interval`. Exception type
    names in `non_retryable` (e.g. "ValueError") stop retries, as does
    `ApplicationError(non_retryable=True)`.
    """

    max_attempts: int | None = None
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float | None = None
    non_retryable: list[str] = field(default_factory=list)
    shape: str = "exponential"

    def __post_init__(self) -> None:
        if self.max_attempts is not None and (not isinstance(self.max_attempts, int) or self.max_attempts < 1):
            raise InvalidArgument(f"RetryPolicy.max_attempts must be an int >= 1 or None, got {self.max_attempts!r}")
        if not isinstance(self.initial_interval, (int, float)) or self.initial_interval < 0:
            raise InvalidArgument(f"RetryPolicy.initial_interval must be >= 0 seconds, got {self.initial_interval!r}")
        if not isinstance(self.backoff, (int, float)) or self.backoff < 1:
            raise InvalidArgument(f"RetryPolicy.backoff must be >= 1, got {self.backoff!r}")
        if self.max_interval is not None and self.max_interval < self.initial_interval:
            raise InvalidArgument("RetryPolicy.max_interval must be >= initial_interval")
        if self.shape not in _SHAPES:
            raise InvalidArgument(f"RetryPolicy.shape must be one of {', '.join(_SHAPES)}, got {self.shape!r}")
        if isinstance(self.non_retryable, str) or not all(isinstance(n, str) for n in self.non_retryable):
            raise InvalidArgument("RetryPolicy.non_retryable must be a list of exception type names")

    def interval(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        cap = self.max_interval if self.max_interval is not None else 100 * self.initial_interval
        if self.shape == "fixed":
            delay = self.initial_interval
        elif self.shape == "linear":
            delay = self.initial_interval * attempt
        else:
            delay = self.initial_interval * self.backoff ** (attempt - 1)
        return min(delay, cap)

    def to_dict(self) -> dict:
        return {"max_attempts": self.max_attempts, "initial_interval": self.initial_interval,
                "backoff": self.backoff, "max_interval": self.max_interval,
                "non_retryable": list(self.non_retryable), "shape": self.shape}

    @classmethod
    def from_dict(cls, data: dict | None) -> "RetryPolicy | None":
        return None if data is None else cls(**data)


def next_retry_delay(policy: RetryPolicy | None, attempt: int, failure: Failure) -> float | None:
    """Seconds until the next attempt, or None when the failure is final."""
    if policy is None or failure.non_retryable or failure.type in policy.non_retryable:
        return None
    if policy.max_attempts is not None and attempt >= policy.max_attempts:
        return None
    return policy.interval(attempt)
