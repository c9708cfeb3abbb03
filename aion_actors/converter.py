"""Rich Python values <-> plain codec data, guided by type annotations.

`to_plain` turns a value into data the payload codecs accept: dataclass
instances become dicts of their fields (in field order), Enum members their
`.value`, UUIDs and Decimals strings, dates (not datetimes) ISO strings;
lists, tuples and dicts are converted item by item (tuples stay tuples, dict
keys must be str or int once converted). Sets are refused (their order is not
stable, so their bytes would not be either): pass a sorted list and annotate
`set[T]` to get a set back. Other objects are refused with a `PayloadError`
naming the type and its path (`$.items[2].owner`). Nothing is ever pickled.

`from_plain` rebuilds a value from plain data and an annotation (dataclasses,
NamedTuples, Enums, UUID, datetime, date, Decimal, list/tuple/dict/set/
frozenset and their abstract forms, Optional/Union, Literal, NewType,
Annotated). Data that does not fit raises a `PayloadError` naming the path and
the expected type. Missing or unknown annotations leave the data as is.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import enum
import inspect
import sys
import types
import typing
import uuid
import weakref
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from .errors import PayloadError
from .payload import MSGPACK, Payload, _describe, decode, encode

_NoneType = type(None)
_PLAIN = frozenset({_NoneType, bool, int, float, str, bytes, datetime})
_ACCEPTED = ("payloads hold None, bool, int, float, str, bytes, datetime, lists, tuples and dicts "
             "(plus dataclasses, Enums, UUIDs, dates and Decimals, as plain data)")

Converter = Callable[[Any, str], Any]


def to_plain(value: Any) -> Any:
    """Convert `value` into plain codec data (see the module docstring for the rules).

    Raises:
        PayloadError: a part of `value` has no plain form; the message names its type and path.
    """
    return _plain(value, "$")


def _plain(value: Any, path: str) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    handler = _HANDLERS.get(kind)
    if handler is None:
        handler = _HANDLERS[kind] = _plain_handler(kind)
    return handler(value, path)


def _plain_dict(value: Any, path: str) -> dict:
    out = {}
    for key, item in value.items():
        plain_key = key if type(key) in (str, int) else _plain(key, f"{path} key {key!r}")
        if type(plain_key) not in (str, int):
            raise PayloadError(f"cannot encode dict key {key!r} ({_describe(key)}) at {path}: "
                               f"dict keys must be str or int (or Enums/UUIDs that become one)")
        out[plain_key] = _plain(item, f"{path}.{plain_key}" if type(plain_key) is str
                                else f"{path}[{plain_key}]")
    return out


def _plain_handler(kind: type) -> Converter:
    if issubclass(kind, enum.Enum):
        return lambda v, p: _plain(v.value, p)
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind))
        return lambda v, p: {n: _plain(getattr(v, n), f"{p}.{n}") for n in names}
    if issubclass(kind, uuid.UUID):
        return lambda v, p: str(v)
    if issubclass(kind, (date, Decimal)) and not issubclass(kind, datetime):
        return lambda v, p: str(v) if isinstance(v, Decimal) else v.isoformat()
    if issubclass(kind, (list, tuple)):
        make = tuple if issubclass(kind, tuple) else list
        return lambda v, p: make(_plain(item, f"{p}[{i}]") for i, item in enumerate(v))
    if issubclass(kind, dict):
        return _plain_dict
    return _refuse


def _refuse(value: Any, path: str) -> Any:
    if isinstance(value, (set, frozenset)):
        raise PayloadError(f"cannot encode {_describe(value)} at {path}: sets have no stable order; pass "
                           f"a sorted list instead (annotate the parameter set[T] to get a set back)")
    raise PayloadError(f"cannot encode object of type {_describe(value)} at {path}: {_ACCEPTED}; "
                       f"convert it first")


_HANDLERS: dict[type, Converter] = {}


def from_plain(value: Any, annotation: Any = Any) -> Any:
    """Rebuild a value of type `annotation` from plain data.

    `None`, `Any`, `object`, `inspect.Parameter.empty`, TypeVars, unresolved
    string annotations and typing forms without a rule return `value` as is.
    Unknown dict keys for a dataclass are ignored; missing fields with a
    default take it. In a Union, a member whose type is exactly the value's
    plain type (`int`, `str`, ...) wins; otherwise members are tried in order.
    `float` accepts ints, `int` accepts bools.

    Raises:
        PayloadError: `value` does not fit `annotation`; the message names the path and the type.
    """
    return _converter(annotation)(value, "$")


def _name(annotation: Any) -> str:
    return annotation.__qualname__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")


def _mismatch(value: Any, path: str, annotation: Any, detail: str = "") -> PayloadError:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return PayloadError(f"payload does not match the annotation at {path}: expected "
                        f"{_name(annotation)}, got {_describe(value)} {text}{detail}")


def _identity(value: Any, path: str) -> Any:
    return value


_CONVERTERS: dict[Any, Converter] = {}


def _converter(annotation: Any) -> Converter:
    try:
        conv = _CONVERTERS.get(annotation)
    except TypeError:  # an unhashable annotation: build it each time
        return _build(annotation)
    if conv is None:
        conv = _CONVERTERS[annotation] = _build(annotation)
    return conv


_SCALARS: dict[type, tuple[tuple[type, ...], Callable[[Any], Any] | None]] = {
    _NoneType: ((_NoneType,), None),
    bool: ((bool,), None),
    int: ((int, bool), None),
    float: ((float, int), float),
    str: ((str,), None),
    bytes: ((bytes,), None),
    datetime: ((datetime, str), lambda v: v if type(v) is datetime else datetime.fromisoformat(v)),
    date: ((date, datetime, str), lambda v: date.fromisoformat(v) if type(v) is str else v),
    Decimal: ((Decimal, str, int, float), lambda v: Decimal(str(v) if type(v) is float else v)),
    uuid.UUID: ((uuid.UUID, str), lambda v: v if type(v) is uuid.UUID else uuid.UUID(v)),
}


def _checked(annotation: Any, accepted: tuple[type, ...], build: Callable | None) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if type(value) not in accepted:
            raise _mismatch(value, path, annotation)
        if build is None:
            return value
        try:
            return build(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise _mismatch(value, path, annotation, f" ({exc})") from None
    return convert


def _build(ann: Any) -> Converter:
    if ann is None or ann is Any or ann is object or ann is inspect.Parameter.empty or isinstance(
            ann, (str, typing.ForwardRef, typing.TypeVar)):
        return _identity
    if isinstance(ann, typing.NewType):
        return _converter(ann.__supertype__)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _converter(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return _union(ann, args)
    if origin is typing.Literal:
        return _literal(ann, args)
    if origin is not None:
        return _record(origin) if dataclasses.is_dataclass(origin) else _generic(ann, origin, args)
    if not isinstance(ann, type):
        return _identity
    if ann in _SCALARS:
        return _checked(ann, *_SCALARS[ann])
    if issubclass(ann, enum.Enum):
        return _enum(ann)
    if dataclasses.is_dataclass(ann) or (issubclass(ann, tuple) and hasattr(ann, "_fields")):
        return _record(ann)
    if ann in (list, tuple, dict, set, frozenset):
        return _generic(ann, ann, (Any, ...) if ann is tuple else ())
    return _checked(ann, (ann,), None)  # any other class: only an exact instance of it fits


def _union(ann: Any, args: tuple) -> Converter:
    exact = frozenset(a for a in args if a in _PLAIN)
    convs = [_converter(a) for a in args]

    def convert(value: Any, path: str) -> Any:
        if type(value) in exact:
            return value
        for conv in convs:
            try:
                return conv(value, path)
            except PayloadError:
                pass
        raise _mismatch(value, path, ann)
    return convert


def _literal(ann: Any, args: tuple) -> Converter:
    def convert(value: Any, path: str) -> Any:
        for arg in args:
            plain = arg.value if isinstance(arg, enum.Enum) else arg
            if type(plain) is type(value) and plain == value:
                return arg
        raise _mismatch(value, path, ann)
    return convert


def _enum(cls: type[enum.Enum]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        try:
            return cls(value)
        except (ValueError, TypeError):
            known = ", ".join(repr(m.value) for m in cls)
            raise _mismatch(value, path, cls, f" (not one of its values: {known})") from None
    return convert


_SEQUENCES = {list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection}
_SETS = {set: set, frozenset: frozenset, cabc.Set: set, cabc.MutableSet: set}


def _generic(ann: Any, origin: Any, args: tuple) -> Converter:
    if origin in _SEQUENCES or origin in _SETS or (origin is tuple and args[-1:] == (...,)):
        make = _SETS.get(origin, tuple if origin is tuple else list)
        item = _converter(args[0] if args else Any)

        def convert(value: Any, path: str) -> Any:
            if type(value) not in (list, tuple, set, frozenset):
                raise _mismatch(value, path, ann)
            if item is _identity:
                return make(value)
            return make(item(v, f"{path}[{i}]") for i, v in enumerate(value))
        return convert
    if origin is tuple:
        items = [_converter(a) for a in args]

        def convert_fixed(value: Any, path: str) -> Any:
            if type(value) not in (list, tuple) or len(value) != len(items):
                raise _mismatch(value, path, ann)
            return tuple(conv(v, f"{path}[{i}]") for i, (conv, v) in enumerate(zip(items, value)))
        return convert_fixed
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        key_conv, val_conv = (_converter(a) for a in (args or (Any, Any)))

        def convert_map(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise _mismatch(value, path, ann)
            return {key_conv(k, f"{path} key"):  # the key itself is in the message
                    val_conv(v, f"{path}.{k}" if type(k) is str else f"{path}[{k}]")
                    for k, v in value.items()}
        return convert_map
    return _identity


def _eval(ann: Any, globalns: dict, localns: dict | None = None) -> Any:
    """An annotation, evaluated if it is a string; `Any` if missing or unresolvable."""
    if ann is inspect.Parameter.empty:
        return Any
    try:
        return eval(ann, globalns, localns) if isinstance(ann, str) else ann  # noqa: S307 (source text)
    except Exception:
        return Any


def _record(cls: Any) -> Converter:
    """Dataclasses and NamedTuples from dicts; fields are planned on first use (recursion-safe)."""
    plan: list[tuple[str, Converter, bool]] | None = None

    def make_plan() -> list[tuple[str, Converter, bool]]:
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # some names do not resolve: resolve field by field
            module = sys.modules.get(cls.__module__)
            hints = {name: _eval(ann, vars(module) if module else {}, {cls.__name__: cls})
                     for klass in reversed(cls.__mro__)
                     for name, ann in klass.__dict__.get("__annotations__", {}).items()}
        if dataclasses.is_dataclass(cls):
            fields = [(f.name, f.default is f.default_factory is dataclasses.MISSING)
                      for f in dataclasses.fields(cls) if f.init]
        else:
            fields = [(n, n not in cls._field_defaults) for n in cls._fields]
        return [(n, _converter(hints.get(n, Any)), required) for n, required in fields]

    def convert(value: Any, path: str) -> Any:
        nonlocal plan
        if isinstance(value, cls):
            return value
        if plan is None:
            plan = make_plan()
        if type(value) in (list, tuple) and issubclass(cls, tuple) and len(value) <= len(plan):
            value = dict(zip((name for name, _, _ in plan), value))
        if type(value) is not dict:
            raise _mismatch(value, path, cls)
        kwargs = {}
        for name, conv, required in plan:
            if name in value:
                kwargs[name] = conv(value[name], f"{path}.{name}")
            elif required:
                raise PayloadError(f"payload does not match the annotation at {path}: "
                                   f"{_name(cls)} is missing required field {name!r}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"payload does not match the annotation at {path}: building "
                               f"{_name(cls)} raised {type(exc).__name__}: {exc}") from exc
    return convert


def encode_value(value: Any, content_type: str = MSGPACK) -> Payload:
    """`to_plain(value)` encoded with the codec for `content_type`."""
    return encode(to_plain(value), content_type)


def decode_value(payload: Payload, annotation: Any = Any) -> Any:
    """The payload decoded, then rebuilt as `annotation` with `from_plain`."""
    return from_plain(decode(payload), annotation)


_SIGNATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature_hints(fn: Callable) -> tuple[tuple[Any, ...], Any]:
    if inspect.ismethod(fn):  # cache on the function; drop the bound self/cls
        params, ret = _signature_hints(fn.__func__)
        return params[1:], ret
    try:
        return _SIGNATURES[fn]
    except (KeyError, TypeError):
        pass
    try:
        sig = inspect.signature(fn, eval_str=True)
    except ValueError:  # no signature (some builtins)
        return (), Any
    except Exception:  # a string annotation that does not resolve: resolve one by one
        sig = inspect.signature(fn)
    globalns = getattr(inspect.unwrap(getattr(fn, "func", fn)), "__globals__", {})  # partials too
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    result = (tuple(_eval(p.annotation, globalns) for p in sig.parameters.values() if p.kind in positional),
              _eval(sig.return_annotation, globalns))
    with contextlib.suppress(TypeError):  # not weak-referenceable: not cached
        _SIGNATURES[fn] = result
    return result


def parameter_annotations(fn: Callable) -> list[Any]:
    """Resolved annotations of `fn`'s positional parameters, in order.

    Missing or unresolvable annotations are `Any`; a bound method omits its
    `self`. `*args` and keyword-only parameters are not included.
    """
    return list(_signature_hints(fn)[0])


def return_annotation(fn: Callable) -> Any:
    """Resolved return annotation of `fn` (for `async def`, the awaited value's), else `Any`."""
    return _signature_hints(fn)[1]
