"""The shape of the Thespian internals aion_actors patches, checked when it is imported.

`simplebase` and `system` replace private parts of Thespian (functions, a
property, module globals). setup.cfg pins Thespian to the minor version they
were written for, but an environment can still hold another one (a forced
install, a vendored copy). Each patching module therefore declares what it
replaces as `Replaced` / `ReadsGlobals` records and calls `require` at
import: a missing attribute, another signature, or a different source of a
replaced or relied-upon function raises `IncompatibleThespian` naming the
version the patches were written for — before anything runs on internals
that may no longer mean what the patch assumes.

Hashing the source is deliberately strict: a patch that wraps or replaces a
function is only known to be right for the code it was read against.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import AionError

WRITTEN_FOR = "4.0.1"
PIN = "thespian>=4.0.1,<4.1"


class IncompatibleThespian(AionError, ImportError):
    """The installed Thespian is not the one aion_actors' runtime patches were written for."""


@dataclass(frozen=True, slots=True)
class Replaced:
    """A function (or property getter) that a patch replaces, wraps or relies on.

    Attributes:
        owner: The module or class that holds it.
        name: Its attribute name on `owner`.
        signature: `str(inspect.signature(...))` of the function as written for.
        source_sha256: sha256 of `inspect.getsource(...)` as written for.
    """

    owner: Any
    name: str
    signature: str
    source_sha256: str


@dataclass(frozen=True, slots=True)
class ReadsGlobals:
    """Module-level variables a patch sets, which the module's own code must still read."""

    module: ModuleType
    names: tuple[str, ...]


def source_sha256(fn: Any) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def _function(owner: Any, name: str) -> Any:
    value = inspect.getattr_static(owner, name)
    if isinstance(value, property):
        return value.fget
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    return value


def _where(owner: Any) -> str:
    return getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))


def problems(expected: list[Replaced | ReadsGlobals]) -> list[str]:
    """What differs from `expected`, one sentence each; empty when the shape is as written for."""
    found = []
    for item in expected:
        if isinstance(item, ReadsGlobals):
            missing = [name for name in item.names if not hasattr(item.module, name)]
            if missing:
                found.append(f"{item.module.__name__} has no {', '.join(missing)}")
            continue
        where = f"{_where(item.owner)}.{item.name}"
        try:
            fn = _function(item.owner, item.name)
        except AttributeError:
            found.append(f"{where} does not exist")
            continue
        try:
            signature = str(inspect.signature(fn))
            if signature != item.signature:
                found.append(f"{where} has signature {signature}, the patch expects {item.signature}")
            elif source_sha256(fn) != item.source_sha256:
                found.append(f"{where} has other source code than the patch was written against")
        except (TypeError, ValueError, OSError) as exc:
            found.append(f"{where} cannot be inspected ({exc})")
    return found


def require(patch: str, expected: list[Replaced | ReadsGlobals]) -> None:
    """Raise `IncompatibleThespian` unless everything in `expected` has the shape it was written for.

    Args:
        patch: The patching module, for the message.
        expected: What it replaces or relies on.

    Raises:
        IncompatibleThespian: something differs; the message lists each difference.
    """
    found = problems(expected)
    if found:
        try:
            installed = importlib.metadata.version("thespian")
        except importlib.metadata.PackageNotFoundError:
            installed = "of unknown version"
        raise IncompatibleThespian(
            f"{patch} patches Thespian internals written for Thespian {WRITTEN_FOR}, and the installed "
            f"Thespian {installed} differs: {'; '.join(found)}. Install the Thespian aion_actors is pinned to "
            f"(pip install '{PIN}'), or an aion_actors release written for your Thespian.")
