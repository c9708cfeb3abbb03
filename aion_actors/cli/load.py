"""Importing the user's workflows: a `.py` file path or a dotted module name.

Whatever goes wrong while importing user code (no such file, a syntax error,
an exception at import time) becomes an `InvalidArgument` that names the
file and line, never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from ..definitions import _ACTIVITY_ATTR, _WORKFLOW_ATTR
from ..errors import InvalidArgument


@dataclass(frozen=True)
class App:
    """The workflows and activities found in the user's modules."""

    sources: tuple[str, ...]
    workflows: tuple[Callable[..., Any], ...]
    activities: tuple[Callable[..., Any], ...]

    def workflow_names(self) -> list[str]:
        return [getattr(w, _WORKFLOW_ATTR).name for w in self.workflows]

    def activity_names(self) -> list[str]:
        return [getattr(a, _ACTIVITY_ATTR).name for a in self.activities]

    def workflow(self, name: str | None) -> Callable[..., Any]:
        """The workflow named `name`, or the only one when `name` is None."""
        names = self.workflow_names()
        if not self.workflows:
            raise InvalidArgument(f"{', '.join(self.sources)} defines no workflow (decorate one with @workflow.defn)")
        if name is None:
            if len(self.workflows) > 1:
                raise InvalidArgument(f"{', '.join(self.sources)} defines several workflows ({', '.join(names)}); "
                                      f"choose one with --workflow NAME")
            return self.workflows[0]
        if name not in names:
            raise InvalidArgument(f"no workflow {name!r} in {', '.join(self.sources)}; it defines: "
                                  f"{', '.join(names)}")
        return self.workflows[names.index(name)]


def _where(exc: BaseException, path: Path | None) -> str:
    """' (FILE, line N)' for the innermost frame in the user's file, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path is not None and Path(f.filename).resolve() == path]
    frame = (mine or frames[-1:] or [None])[-1]
    return f" ({frame.filename}, line {frame.lineno})" if frame is not None else ""


def import_source(source: str) -> ModuleType:
    """Import `source`: a path ending in `.py`, or a dotted module name importable from here."""
    path = Path(source)
    if source.endswith(".py") or path.exists():
        path = path.resolve()
        if not path.is_file():
            raise InvalidArgument(f"file {source!r} not found")
        # A stable, unique module name, so two files named alike do not collide.
        name = f"aion_app_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        if name in sys.modules:
            return sys.modules[name]
        folder = str(path.parent)
        if folder not in sys.path:  # the file's own imports of its neighbours work, as with `python FILE`
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        loader: Any = spec.loader
    else:
        path, module, loader = None, None, None
    try:
        if module is not None:
            loader.exec_module(module)
            return module
        if "" not in sys.path:
            sys.path.insert(0, "")
        return importlib.import_module(source)
    except SyntaxError as exc:
        if module is not None:
            sys.modules.pop(module.__name__, None)
        raise InvalidArgument(f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}") from None
    except ModuleNotFoundError as exc:
        if module is not None:
            sys.modules.pop(module.__name__, None)
        if exc.name == source or source.startswith(f"{exc.name}."):
            raise InvalidArgument(f"no module named {source!r} (give a path to a .py file, or a module "
                                  f"importable from the current directory)") from None
        raise InvalidArgument(f"importing {source} failed: {exc}{_where(exc, path)}") from None
    except Exception as exc:
        if module is not None:
            sys.modules.pop(module.__name__, None)
        raise InvalidArgument(f"importing {source} failed: {type(exc).__name__}: {exc}{_where(exc, path)}") from None


def load(sources: Sequence[str]) -> App:
    """Import every source and collect the `@workflow.defn` / `@activity.defn` functions in them."""
    workflows: dict[int, Callable[..., Any]] = {}
    activities: dict[int, Callable[..., Any]] = {}
    for source in sources:
        module = import_source(source)
        for value in vars(module).values():
            if callable(value) and getattr(value, _WORKFLOW_ATTR, None) is not None:
                workflows.setdefault(id(value), value)
            if callable(value) and getattr(value, _ACTIVITY_ATTR, None) is not None:
                activities.setdefault(id(value), value)
    return App(tuple(sources), tuple(workflows.values()), tuple(activities.values()))
