"""Hypothesis strategies for Kafka values: contract-valid events written many ways, near-valid ones, random bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import strategies as st

NOW = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)
PATTERNED = ("schema_version", "user_id", "session_id", "product_id", "country")
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


@st.composite
def event_ids(draw) -> str:
    groups = [draw(st.text("0123456789abcdef", min_size=n, max_size=n)) for n in (8, 4, 4, 4, 12)]
    return "-".join(groups)


@st.composite
def event_timestamps(draw) -> str:
    """Any instant the contract accepts, 0001-01-01 to a minute after NOW, in its millisecond form."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(2025, 6, 1, 13, 1)))
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    return f"{date}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"


@st.composite
def prices(draw) -> str:
    """A valid price_gbp as JSON number text: plain, with trailing zeros past any precision, or with an exponent."""
    cents = draw(st.integers(min_value=1, max_value=10_000_000))
    value = Decimal(cents).scaleb(-2)
    form = draw(st.sampled_from(["plain", "zeros", "exponent", "integer"]))
    if form == "zeros":
        return f"{value:.2f}" + "0" * draw(st.integers(min_value=1, max_value=60))
    if form == "exponent":
        digits, exponent = str(cents), -2 - draw(st.integers(min_value=0, max_value=3))
        shifted = digits + "0" * (-2 - exponent)
        return f"{shifted}E{exponent}" if draw(st.booleans()) else f"{shifted}e{exponent}"
    if form == "integer" and cents % 100 == 0:
        return str(cents // 100)
    return f"{value:.2f}"


@st.composite
def valid_fields(draw) -> dict[str, str]:
    """One valid event as {field: JSON text of its value}."""
    ident = st.text(ID_CHARS, min_size=1, max_size=64)
    event_type = draw(st.sampled_from(["page_view", "add_to_cart", "purchase"]))
    fields = {
        "event_id": json.dumps(draw(event_ids())),
        "event_ts": json.dumps(draw(event_timestamps())),
        "schema_version": json.dumps(f"1.{draw(st.integers(min_value=0, max_value=999))}"),
        "user_id": json.dumps(draw(ident)),
        "session_id": json.dumps(draw(ident)),
        "event_type": json.dumps(event_type),
        "device": json.dumps(draw(st.sampled_from(["desktop", "mobile", "tablet"]))),
        "country": json.dumps(draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2))),
    }
    if event_type != "page_view":
        fields["product_id"] = json.dumps(draw(ident))
        fields["price_gbp"] = draw(prices())
        fields["quantity"] = str(draw(st.integers(min_value=1, max_value=1000)))
    elif draw(st.booleans()):
        fields["product_id"] = json.dumps(draw(ident))
    if draw(st.booleans()):
        fields[draw(st.text(min_size=1, max_size=8))] = json.dumps(draw(st.text(max_size=8)))
    return fields


def serialised(fields: dict[str, str], spacing: str = "") -> bytes:
    """The object with these members, in this order, with `spacing` after each separator."""
    members = f",{spacing}".join(f"{json.dumps(name)}:{spacing}{text}" for name, text in fields.items())
    return ("{" + spacing + members + spacing + "}").encode("utf-8", "surrogatepass")


@st.composite
def valid_payloads(draw) -> bytes:
    return serialised(draw(valid_fields()), draw(st.sampled_from(["", " ", "\n", "\t"])))


NEAR_MISSES = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "-0",
            "0",
            "1e400",
            "-1e400",
            "1e-400",
            "true",
            "null",
            "[]",
            "{}",
            '"19.99"',
            '""',
            '"\\u0000"',
            '"\\ud800"',
            '"GB\\n"',
            '"u_1\\n"',
            '"1.0\\n"',
            '"2025-06-01T12:34:56.789Z\\n"',
            '" GB"',
            '"GB "',
            '"\\u0660\\u0661"',
            '"2025-06-01T12:34:56.789+01:00"',
            '"2025-06-01 12:34:56.789Z"',
            '"2025-02-30T00:00:00.000Z"',
            '"0000-01-01T00:00:00.000Z"',
            "1.000000000000000000000000000000000000000",
            "99999.990000000000000000000000000000000000000000",
            "100000.01",
            "0.001",
            "12345678901234567890123456789012345678901234567890",
            "1E+5",
            "2.0",
            "1001",
            "[" * 200 + "]" * 200,
        ]
    ),
    st.text(max_size=20).map(json.dumps),
    st.integers().map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)


@st.composite
def near_valid_payloads(draw) -> bytes:
    """A valid event with one member's value replaced, removed, or repeated, or the whole text cut short."""
    fields = draw(valid_fields())
    name = draw(st.sampled_from([*fields, "price_gbp", "quantity", "product_id"]))
    action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "repeat", "truncate"]))
    if action == "replace":
        fields[name] = draw(NEAR_MISSES)
    elif action == "remove":
        fields.pop(name, None)
    text = serialised(fields)
    if action == "repeat":
        text = text[:-1] + b"," + json.dumps(name).encode() + b":" + fields.get(name, "1").encode() + b"}"
    if action == "truncate":
        text = text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    return text


payloads = st.one_of(valid_payloads(), near_valid_payloads(), st.binary(max_size=300), st.none())
"""Every kind of Kafka value the topic can carry (None is a tombstone)."""
