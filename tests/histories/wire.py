"""The checked-in history files: reading them back, and finding the workflow code they replay against.

A file is JSON lines: a header (the code version that wrote it, the workflow,
the outcome), then one line per row of the store's `events` table, column for
column, with `data` (the msgpack body from `aion_actors.events.encode_event`)
base64'd. See README.md for why this form.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from aion_actors.definitions import _ACTIVITY_ATTR, _WORKFLOW_ATTR
from stores import StoredEvent

FORMAT = "aion-history/1"
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # `recorded_at_us` counts from here (stores/schema.py)


def history_files() -> list[Path]:
    """Every checked-in history, of every code version."""
    return sorted(HERE.glob("*/*.jsonl"))


def read(path: Path) -> tuple[dict[str, Any], list[StoredEvent]]:
    """The header and the rows of one file, each row checked against its stored checksum (CRC32, as stores keep it)."""
    header, *lines = path.read_text().splitlines()
    meta = json.loads(header)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, this reader knows {FORMAT!r}")
    rows = []
    for line in lines:
        row = json.loads(line)
        event = StoredEvent(row["workflow_id"], row["seq"], row["run_id"], row["type"],
                            _EPOCH + timedelta(microseconds=row["recorded_at_us"]), base64.b64decode(row["data"]))
        if zlib.crc32(event.data) != row["crc"]:
            raise ValueError(f"{path}: event seq {event.seq} is corrupted (its data does not match its crc)")
        rows.append(event)
    return meta, rows


def load(source: str) -> ModuleType:
    """Import a workflow module by its path from the repository root (examples/ is not a package)."""
    path = ROOT / source
    spec = importlib.util.spec_from_file_location(f"histories_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workflow_attribute(module: ModuleType, workflow_type: str) -> str:
    """The module attribute that defines `workflow_type` (the one named like it, if several do)."""
    names = [name for name, value in vars(module).items()
             if getattr(getattr(value, _WORKFLOW_ATTR, None), "name", None) == workflow_type]
    if not names:
        raise LookupError(f"{module.__file__} defines no module-level workflow {workflow_type!r}")
    return workflow_type if workflow_type in names else names[0]


def activities(module: ModuleType) -> list[Any]:
    """The module's activities: replay decodes their results to the types they annotate."""
    return [value for value in vars(module).values() if hasattr(value, _ACTIVITY_ATTR)]
