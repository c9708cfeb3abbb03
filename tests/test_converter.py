"""aion_actors.converter (rich values <-> plain data) and the payload codecs under it."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, NamedTuple, NewType, Optional, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aion_actors import payload
from aion_actors.converter import (
    decode_value, encode_value, from_plain, parameter_annotations, return_annotation, to_plain,
)
from aion_actors.errors import AionError, PayloadError

CODECS = [payload.MSGPACK, payload.JSON]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Owner:
    name: str
    id: uuid.UUID
    level: Level = Level.LOW


@dataclass
class Item:
    sku: str
    color: Color
    owner: Owner
    price: Decimal
    due: date
    created: datetime
    tags: tuple[str, ...] = ()
    note: Optional[str] = None
    size: tuple[int, int] | None = None


@dataclass
class Order:
    items: list[Item]
    by_sku: dict[str, Item]
    counts: dict[int, float] = field(default_factory=dict)
    parent: Order | None = None


class Point(NamedTuple):
    x: int
    y: int = 0


UserId = NewType("UserId", int)


def make_order() -> Order:
    owner = Owner("ada", uuid.uuid4(), Level.HIGH)
    items = [
        Item("a-1", Color.RED, owner, Decimal("9.99"), date(2024, 2, 29),
             datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), ("x", "y"), "fragile", (3, 4)),
        Item("b-2", Color.GREEN, Owner("bob", uuid.uuid4()), Decimal("-0.5"), date(1999, 12, 31),
             datetime(2024, 6, 1, 12, 0)),  # naive
    ]
    return Order(items, {i.sku: i for i in items}, {1: 0.5, 2: 3.0},
                 parent=Order([], {}))


# -------------------------------------------------------------- round trips

@pytest.mark.parametrize("content_type", CODECS)
def test_nested_dataclasses_round_trip(content_type):
    order = make_order()
    p = encode_value(order, content_type)
    assert p.content_type == content_type
    back = decode_value(p, Order)
    assert back == order
    assert type(back.items[0].owner.id) is uuid.UUID
    assert back.items[0].color is Color.RED and back.items[0].owner.level is Level.HIGH
    assert back.items[0].created.tzinfo is not None and back.items[1].created.tzinfo is None
    assert back.items[0].tags == ("x", "y") and back.items[0].size == (3, 4)
    assert isinstance(back.by_sku["b-2"], Item)


@pytest.mark.parametrize("content_type", CODECS)
def test_decoding_without_annotation_gives_plain_data(content_type):
    order = make_order()
    plain = decode_value(encode_value(order, content_type), Any)
    assert plain == to_plain(order)
    first = plain["items"][0]
    assert list(first) == ["sku", "color", "owner", "price", "due", "created", "tags", "note", "size"]
    assert first["color"] == "red" and first["owner"]["level"] == 2
    assert first["owner"]["id"] == str(order.items[0].owner.id)
    assert first["price"] == "9.99" and first["due"] == "2024-02-29"
    assert first["tags"] == ("x", "y") and plain["counts"] == {1: 0.5, 2: 3.0}


def test_to_plain_rules():
    u = uuid.uuid4()
    assert to_plain({Color.RED: [u, (Level.LOW,)]}) == {"red": [str(u), (1,)]}
    assert to_plain(Point(1, 2)) == (1, 2)
    now = datetime.now()
    assert to_plain(now) is now


@pytest.mark.parametrize("content_type", CODECS)
@pytest.mark.parametrize("value, annotation", [
    (Point(3), Point),
    ([Point(1, 2)], list[Point]),
    ({Color.GREEN: 1}, dict[Color, int]),
    ({uuid.UUID(int=5): Decimal("1e3")}, dict[uuid.UUID, Decimal]),
    ({"a", "b"}, set[str]),
    (frozenset({1}), frozenset[int]),
    ((1, "x", None), tuple[int, str, None]),
    (Color.RED, Literal[Color.RED, Color.GREEN]),
    ("b", Literal["a", "b"]),
    (UserId(7), UserId),
    (1.5, Union[int, float]),
    ("x", int | str),
    (Level.HIGH, Optional[Level]),
    (None, Optional[Level]),
    (b"\x00\xff", bytes),
])
def test_typed_round_trips(content_type, value, annotation):
    plain = sorted(value) if isinstance(value, (set, frozenset)) else value
    back = decode_value(encode_value(plain, content_type), annotation)
    assert back == value and type(back) is type(value)


def test_from_plain_coercions():
    assert from_plain(3, float) == 3.0 and type(from_plain(3, float)) is float
    assert from_plain("2024-01-02T03:04:05+00:00", datetime) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert from_plain([1, 2], tuple[int, ...]) == (1, 2)
    assert from_plain((1, 2), list[int]) == [1, 2]
    assert from_plain({"name": "x", "id": str(uuid.UUID(int=1)), "extra": 1}, Owner) == Owner("x", uuid.UUID(int=1))
    assert from_plain({"a": 1}, dict) == {"a": 1}
    assert from_plain(1, Union[float, int]) == 1 and type(from_plain(1, Union[float, int])) is int
    thing = object()
    assert from_plain(thing, None) is thing and from_plain(thing, "Unresolved") is thing


def test_recursive_dataclass_and_local_forward_refs():
    @dataclass
    class Node:
        value: int
        children: list[Node] = field(default_factory=list)  # resolved field by field, Node from locals

    tree = Node(1, [Node(2), Node(3, [Node(4)])])
    assert decode_value(encode_value(tree), Node) == tree


# --------------------------------------------------------------- mismatches

@pytest.mark.parametrize("value, annotation, fragments", [
    ({"items": [{"sku": 1}]}, Order, ["$.items[0].sku", "expected str", "got int 1"]),
    ({"name": "x"}, Owner, ["at $:", "Owner is missing required field 'id'"]),
    ("12", int, ["at $:", "expected int", "got str '12'"]),
    ("blue", Color, ["expected Color", "'red', 'green'"]),
    ("nope", uuid.UUID, ["expected UUID"]),
    ("1.2.3", Decimal, ["expected Decimal"]),
    ([1, 2, 3], tuple[int, int], ["expected tuple[int, int]"]),
    ({"k": {"x": "no"}}, dict[str, Point], ["$.k.x", "expected int"]),
    ({1: "a"}, dict[str, str], ["at $ key: expected str, got int 1"]),
    (2.5, int | str, ["expected int | str", "got float 2.5"]),
    ("c", Literal["a", "b"], ["Literal['a', 'b']"]),
    (True, float, ["expected float"]),
    ([1, "x"], list[int], ["$[1]"]),
])
def test_mismatch_names_path_and_type(value, annotation, fragments):
    with pytest.raises(PayloadError) as info:
        from_plain(value, annotation)
    message = str(info.value)
    assert "payload does not match the annotation" in message
    for fragment in fragments:
        assert fragment in message


def test_constructor_errors_become_payload_errors():
    @dataclass
    class Positive:
        n: int

        def __post_init__(self):
            if self.n <= 0:
                raise ValueError("n must be positive")

    with pytest.raises(PayloadError, match="building .*Positive raised ValueError: n must be positive"):
        from_plain({"n": -1}, Positive)


class Opaque:
    pass


@pytest.mark.parametrize("value, fragments", [
    ({"items": [1, 2, {"owner": Opaque()}]}, ["$.items[2].owner", "test_converter.Opaque", "payloads hold"]),
    (Order([], {}, parent=Order([], {"k": Opaque()})), ["$.parent.by_sku.k"]),  # type: ignore[dict-item]
    ([{1, 2}], ["set at $[0]", "sorted list"]),
    ({"f": frozenset()}, ["frozenset at $.f"]),
    ({(1, 2): "x"}, ["dict key (1, 2)", "str or int"]),
    (lambda: 1, ["function at $"]),
    (timedelta(1), ["datetime.timedelta at $"]),
])
def test_unsupported_values_refused(value, fragments):
    with pytest.raises(PayloadError) as info:
        to_plain(value)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert isinstance(info.value, AionError) and isinstance(info.value, TypeError)


def test_encode_value_refuses_big_ints_with_path():
    with pytest.raises(PayloadError, match=r"integer 18446744073709551616 out of the 64-bit range at \$\.n"):
        encode_value({"n": 2**64})


# --------------------------------------------------------------- signatures

@dataclass
class Reply:
    ok: bool


async def activity(order: Order, n: int, /, tag: "Color", rest=None, *args: int, flag: bool = False) -> Reply:
    return Reply(True)


class Service:
    def handle(self, owner: Owner, items: list[Item]) -> dict[str, Reply]:
        return {}


def test_annotations_of_functions_and_methods():
    assert parameter_annotations(activity) == [Order, int, Color, Any]
    assert return_annotation(activity) is Reply
    assert parameter_annotations(Service().handle) == [Owner, list[Item]]
    assert parameter_annotations(Service.handle) == [Any, Owner, list[Item]]
    assert return_annotation(Service().handle) == dict[str, Reply]
    assert parameter_annotations(lambda a, b: None) == [Any, Any]
    assert return_annotation(lambda: None) is Any


def test_unresolvable_annotations_become_any():
    def fn(a: "NoSuchType", b: "int") -> "AlsoMissing":  # noqa: F821
        return a

    assert parameter_annotations(fn) == [Any, int]
    assert return_annotation(fn) is Any


# ------------------------------------------------- property: plain values

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("content_type", CODECS)
@settings(max_examples=200, deadline=None)
@given(value=plain_values)
def test_plain_values_round_trip(content_type, value):
    back = decode_value(encode_value(value, content_type), Any)
    assert back == value
    assert repr(back) == repr(value)  # same types all the way down (tuples stay tuples, -0.0 stays)


# -------------------------------------------------------------- payload.py

@pytest.mark.parametrize("content_type", CODECS)
def test_payload_error_names_path_and_type(content_type):
    with pytest.raises(PayloadError) as info:
        payload.encode({"items": [0, 1, {"owner": Opaque()}]}, content_type)
    assert "object of type tests.test_converter.Opaque at $.items[2].owner" in str(info.value)


@pytest.mark.parametrize("content_type", CODECS)
@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**30])
def test_payload_refuses_ints_beyond_64_bits(content_type, big):
    with pytest.raises(PayloadError, match="out of the 64-bit range at \\$\\[1\\]"):
        payload.encode([0, big], content_type)


@pytest.mark.parametrize("content_type", CODECS)
def test_payload_refuses_int_subclasses_by_type(content_type):
    with pytest.raises(PayloadError, match="object of type .*Level at \\$"):
        payload.encode(Level.LOW, content_type)  # use the converter for Enums


@pytest.mark.parametrize("content_type", CODECS)
@pytest.mark.parametrize("moment", [
    datetime(2024, 1, 2, 3, 4, 5, 6),
    datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
])
def test_payload_datetimes_round_trip(content_type, moment):
    back = payload.decode(payload.encode({"at": moment}, content_type))["at"]
    assert back == moment
    assert (back.tzinfo is None) == (moment.tzinfo is None)
    if content_type == payload.JSON:  # msgpack timestamps come back in UTC (same instant)
        assert back.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize("content_type", CODECS)
def test_payload_bytes_tuples_and_int_keys_round_trip(content_type):
    value = {"b": b"\x00\x01", "t": (1, (2, b"x"), []), 3: [(), ("a",)], "nested": {"$tuple": [1]},
             "lone": {"$bytes": "aGk="}}
    back = payload.decode(payload.encode(value, content_type))
    assert back == value and repr(back) == repr(value)


def test_payload_unknown_content_type():
    with pytest.raises(PayloadError, match="unknown payload content type 'text/plain'"):
        payload.encode(1, "text/plain")
