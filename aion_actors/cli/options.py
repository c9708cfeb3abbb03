"""What every command shares: `--store`, `--json`, opening the store, reading JSON arguments, exit codes."""

from __future__ import annotations

import json
import signal as signals
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from stores.base import EventStore
from stores.url import open_store

from ..errors import InvalidArgument
from ..runtime.context import store_errors

# Exit codes (documented in `aion --help` and the README).
OK = 0
ERROR = 1
USAGE = 2
WORKFLOW_ENDED_BADLY = 3  # `result` / `run`: the workflow failed, was cancelled or timed out
NO_ANSWER = 4  # no worker answered in time; `result` of a workflow still running
INTERRUPTED = 130

DEFAULT_STORE = "sqlite:///aion.db"


def store_option(fn: Callable) -> Callable:
    return click.option("--store", envvar="AION_STORE", default=DEFAULT_STORE, show_default=True,
                        metavar="URL", help="Store URL (or set AION_STORE).")(fn)


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(fn)


def common(fn: Callable) -> Callable:
    return store_option(json_option(fn))


def _sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (None for other stores and in-memory SQLite)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@contextmanager
def existing_store(url: str) -> Iterator[EventStore]:
    """Open a store that must already exist: reading must not leave an empty SQLite file behind."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise InvalidArgument(f"store {url} does not exist (no file {str(path)!r}); pass --store URL "
                              f"or set AION_STORE to the store your workflows use")
    with store_errors():
        store = open_store(url)
    try:
        with store_errors():
            yield store
    finally:
        store.close()


def parse_json(text: str | None, option: str) -> Any:
    """A JSON value given on the command line, or an `InvalidArgument` saying how to write one."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{option} is not valid JSON ({exc.msg} at column {exc.colno}): write e.g. "
                              f"{option} '{{\"amount\": 3}}' or {option} '\"text\"'") from None


def parse_loose(text: str) -> Any:
    """A query argument: JSON when it parses, otherwise the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def plain(value: Any) -> Any:
    """`json.dumps` default: bytes as hex, datetimes and the like as ISO text, the rest as repr."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=plain)


class Exit(click.ClickException):
    """End the command with `code`, printing `aion: message` on stderr when there is one."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        if self.message:
            click.echo(f"aion: {self.message}", err=True)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `KeyboardInterrupt`, so the process ends through a clean `engine.close()`.

    SIGINT too, explicitly: a shell starts background jobs with SIGINT
    ignored, and Python then never turns it into `KeyboardInterrupt`.
    """
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signals.signal(sig, interrupt) for sig in (signals.SIGINT, signals.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signals.signal(sig, handler)
