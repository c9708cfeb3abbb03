"""Payloads: a value as bytes plus the content type that says how to read them.

Two codecs: msgpack (the default, `application/x-msgpack`) and JSON
(`application/json`). Both round-trip msgpack-native values (None, bool,
int, float, str, bytes, lists, dicts) plus tuples and datetimes. Anything
else is refused with a `PayloadError` naming the offending type and where it
sits in the value (`$.items[2].owner`), before anything is recorded. Values
are never pickled.

Richer types (dataclasses, Enums, UUIDs) are turned into plain data by
`aion_actors.converter` before they reach a codec.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgpack

from .errors import PayloadError

MSGPACK = "application/x-msgpack"
JSON = "application/json"

_TUPLE_EXT = 1
_NAIVE_DATETIME_EXT = 2


@dataclass(frozen=True, slots=True)
class Payload:
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"Payload({self.content_type!r}, {len(self.data)} bytes)"


class Codec(Protocol):
    content_type: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def _describe(value: Any) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


_SCALARS = (type(None), bool, int, float, str, bytes, datetime)


def find_unencodable(value: Any, path: str = "$") -> tuple[str, Any] | None:
    """The path and value of the first part no codec accepts, or None."""
    kind = type(value)
    if kind is int and not -(2**63) <= value < 2**64:
        return path, value
    if kind in _SCALARS:
        return None
    if kind in (list, tuple):
        for i, item in enumerate(value):
            found = find_unencodable(item, f"{path}[{i}]")
            if found:
                return found
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) not in (str, int):
                return f"{path} key {key!r}", key
            found = find_unencodable(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
            if found:
                return found
        return None
    return path, value


def _refuse(value: Any, cause: BaseException | None = None) -> PayloadError:
    found = find_unencodable(value)
    if found is None:
        return PayloadError(f"cannot encode value: {cause}")
    path, bad = found
    what = f"integer {bad} out of the 64-bit range" if type(bad) is int else (
        f"object of type {_describe(bad)}")
    return PayloadError(
        f"cannot encode {what} at {path}: payloads hold None, bool, int, float, str, bytes, "
        f"datetime, lists, tuples and dicts (plus dataclasses, Enums and UUIDs, as plain data); "
        f"convert it first"
    )


def _msgpack_default(obj: Any) -> Any:
    if type(obj) is tuple:
        return msgpack.ExtType(_TUPLE_EXT, _pack(list(obj)))
    if type(obj) is datetime and obj.tzinfo is None:
        return msgpack.ExtType(_NAIVE_DATETIME_EXT, obj.isoformat().encode())
    raise TypeError(f"unencodable {type(obj)!r}")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_msgpack_default, use_bin_type=True, datetime=True, strict_types=True)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _TUPLE_EXT:
        return tuple(_unpack(data))
    if code == _NAIVE_DATETIME_EXT:
        return datetime.fromisoformat(data.decode())
    return msgpack.ExtType(code, data)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, timestamp=3, ext_hook=_ext_hook, strict_map_key=False)


class MsgpackCodec:
    content_type = MSGPACK

    def encode(self, value: Any) -> bytes:
        try:
            return _pack(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _refuse(value, exc) from None

    def decode(self, data: bytes) -> Any:
        try:
            return _unpack(data)
        except Exception as exc:
            raise PayloadError(f"cannot decode msgpack payload ({len(data)} bytes): {exc}") from exc


_JSON_TAGS = frozenset({"$bytes", "$datetime", "$tuple", "$intkeys"})


class JsonCodec:
    """JSON with tagged objects for what JSON lacks (bytes, tuples, datetimes)."""

    content_type = JSON

    def encode(self, value: Any) -> bytes:
        found = find_unencodable(value)
        if found is not None:
            raise _refuse(value)
        return json.dumps(self._tag(value), separators=(",", ":"), allow_nan=True).encode()

    def decode(self, data: bytes) -> Any:
        try:
            return json.loads(data, object_hook=self._untag)
        except Exception as exc:
            raise PayloadError(f"cannot decode JSON payload ({len(data)} bytes): {exc}") from exc

    def _tag(self, value: Any) -> Any:
        if type(value) is bytes:
            return {"$bytes": base64.b64encode(value).decode()}
        if type(value) is datetime:
            return {"$datetime": value.isoformat()}
        if type(value) is tuple:
            return {"$tuple": [self._tag(v) for v in value]}
        if type(value) is list:
            return [self._tag(v) for v in value]
        if type(value) is dict:
            # Int keys, or a lone key that would read back as a tag: use the pair-list form.
            if any(type(k) is not str for k in value) or (
                    len(value) == 1 and next(iter(value)) in _JSON_TAGS):
                return {"$intkeys": [[k, self._tag(v)] for k, v in value.items()]}
            return {k: self._tag(v) for k, v in value.items()}
        return value

    @staticmethod
    def _untag(obj: dict) -> Any:
        if len(obj) == 1:
            ((key, inner),) = obj.items()
            if key == "$bytes":
                return base64.b64decode(inner)
            if key == "$datetime":
                return datetime.fromisoformat(inner)
            if key == "$tuple":
                return tuple(inner)
            if key == "$intkeys":
                return {k: v for k, v in inner}
        return obj


CODECS: dict[str, Codec] = {MSGPACK: MsgpackCodec(), JSON: JsonCodec()}


def codec_for(content_type: str) -> Codec:
    try:
        return CODECS[content_type]
    except KeyError:
        raise PayloadError(
            f"unknown payload content type {content_type!r}; known: {', '.join(CODECS)}"
        ) from None


def encode(value: Any, content_type: str = MSGPACK) -> Payload:
    """Encode a plain value; raises `PayloadError` naming what cannot be encoded."""
    return Payload(content_type, codec_for(content_type).encode(value))


def decode(payload: Payload) -> Any:
    return codec_for(payload.content_type).decode(payload.data)
