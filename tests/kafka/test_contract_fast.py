"""The compiled fast path must give exactly validate_payload's verdict, on generated and on hostile payloads."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator

from kafka import contract_fast, events
from kafka.contract import cross_field_rules, load_contract, validate_payload
from kafka.contract_fast import Doubt, check_payload, compile_contract
from tests.contract_events import BASE, event

NOW = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)
ABSENT = "absent"


def with_price(text: bytes) -> bytes:
    return event().replace(b"19.99", text)


HOSTILE = {
    "valid": event(),
    "invalid utf-8": b'{"event_id": "\xff"}',
    "raw NUL byte in a string": event(user_id="u\x00").replace(b"\\u0000", b"\x00"),
    "escaped NUL in a string": event(user_id="u\x00"),
    "nesting bomb": b"[" * 100_000,
    "huge extra field": event(pad="x" * 2_000_000),
    "JSON array": b"[1, 2]",
    "JSON string": b'"purchase"',
    "price as string": event(price_gbp="19.99"),
    "quantity as string": event(quantity="2"),
    "NaN": with_price(b"NaN"),
    "Infinity": with_price(b"Infinity"),
    "-Infinity": with_price(b"-Infinity"),
    "three decimals": with_price(b"19.999"),
    "1e400": with_price(b"1e400"),
    "1e-400": with_price(b"1e-400"),
    "exponent form": with_price(b"1.999e1"),
    "integer price": event(price_gbp=20),
    "negative zero": with_price(b"-0.0"),
    "offset zone": event(event_ts="2025-06-01T13:34:56.789+01:00"),
    "space separator": event(event_ts="2025-06-01 12:34:56.789"),
    "epoch millis": event(event_ts=1748781296789),
    "month 13": event(event_ts="2025-13-01T12:34:56.789Z"),
    "leap second": event(event_ts="2025-06-30T23:59:60.000Z"),
    "future": event(event_ts="2025-06-01T13:05:00.001Z"),
    "just inside skew": event(event_ts="2025-06-01T13:05:00.000Z"),
    "unknown extra fields": event(extra={"nested": [1, 2]}, another=None),
    "duplicate key": event()[:-1] + b', "quantity": 3}',
    "empty value": b"",
    "null value": None,
    "whitespace": b"   ",
    "byte order mark": b"\xef\xbb\xbf" + event(),
    "page view with price": event(event_type="page_view"),
    "purchase without quantity": event(quantity=None),
    "quantity 2.0": event(quantity=2.0),
    "quantity true": event(quantity=True),
    "upper-case uuid": event(event_id=BASE["event_id"].upper()),
    "lone surrogate id": event(event_id="\ud800abc"),
    "unknown event type": event(event_type="refund"),
    "missing event_id": json.dumps({k: v for k, v in BASE.items() if k != "event_id"}).encode(),
    "schema major 2": event(schema_version="2.0"),
    "several properties and a rule broken at once": event(
        price_gbp="19.99", country="gb", quantity=None, event_ts="2025-13-01T12:34:56.789Z", device=3
    ),
    "missing fields beside a broken one": json.dumps(
        {k: v for k, v in BASE.items() if k not in ("user_id", "device")} | {"country": "GBR"}
    ).encode(),
}


def compact(**changes) -> bytes:
    """The valid purchase as compact JSON, the form the fast reader takes when it writes back identically."""
    return json.dumps({**BASE, **changes}, separators=(",", ":")).encode()


COMPACT = {
    "valid": compact(),
    "repeated key, same value": compact()[:-1] + b',"quantity":2}',
    "repeated key, other value": compact()[:-1] + b',"price_gbp":-1}',
    "price as string": compact(price_gbp="19.99"),
    "price with three decimals": compact().replace(b"19.99", b"19.999"),
    "price 1e400": compact().replace(b"19.99", b"1e400"),
    "price 1E+2": compact().replace(b"19.99", b"1E+2"),
    "big integer quantity": compact(quantity=2**70),
    "non-ASCII text": compact(user_id="u_é"),
    "escaped slash": compact().replace(b'"u_1"', b'"u\\/1"'),
    "nested extra with repeated key": compact()[:-1] + b',"extra":{"a":1,"a":2}}',
    "lone surrogate": compact().replace(b'"u_1"', b'"\\ud800"'),
}


def test_repeated_keys_are_invalid_json_even_in_compact_form():
    violations = check_payload(COMPACT["repeated key, same value"], now=NOW)[1]
    assert [v.reason for v in violations] == ["invalid_json"]


def test_a_keyword_the_fast_path_lacks_is_an_error_naming_it():
    contract = load_contract()
    contract["properties"]["user_id"]["maxLength"] = 64
    with pytest.raises(ValueError, match="maxLength"):
        compile_contract(contract)


INPUTS = {**{f"hostile: {k}": v for k, v in HOSTILE.items()}, **{f"compact: {k}": v for k, v in COMPACT.items()}}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_fast_path_agrees_with_the_contract_on_hostile_and_compact_input(name):
    raw = INPUTS[name]
    document, violations = check_payload(raw, now=NOW)
    assert violations == validate_payload(raw, now=NOW)
    if not violations:
        assert document == json.loads(raw, parse_float=Decimal)


def test_fast_path_agrees_on_every_generated_kind():
    records = list(events.generate(5_000, seed=7, anomalies=events.DEFAULT_ANOMALIES, now=NOW))
    kinds = {kind for _, _, kind, _ in records}
    assert kinds >= {"valid", "malformed_json", "invalid_utf8", "future_timestamp", "negative_price"}
    for _, value, kind, _ in records:
        assert check_payload(value, now=NOW)[1] == validate_payload(value, now=NOW), kind


def test_doubted_names_exactly_the_parts_of_the_contract_that_fail():
    fast = compile_contract(load_contract())
    broken = json.loads(event(price_gbp="19.99", country="gb", quantity=None), parse_float=Decimal)
    assert fast.doubted(broken) == Doubt(frozenset({"price_gbp", "country"}), False, frozenset({0})), (
        "a null quantity breaks the purchase rule (allOf 0), not the property"
    )
    del broken["device"]
    assert fast.doubted(broken).required
    assert fast.doubted(json.loads(event(), parse_float=Decimal)) == Doubt(frozenset(), False, frozenset())
    assert not fast.accepts(broken, NOW) and fast.accepts(json.loads(event(), parse_float=Decimal), NOW)


def test_a_broken_rule_after_one_that_holds_is_named_as_the_authority_names_it():
    """The rules that hold are left out of the authority's schema by position, so the second rule's reason still
    carries its own description."""
    value = event(event_type="page_view", price_gbp=1.5, quantity=None, product_id=None)
    _, violations = check_payload(value, now=NOW)
    assert violations == validate_payload(value, now=NOW)
    assert [v.reason for v in violations] == ["rule_violation"] and "page view" in violations[0].detail


def test_valid_prices_stay_exact_decimals():
    document, violations = check_payload(with_price(b"0.10"), now=NOW)
    assert violations == []
    assert str(document["price_gbp"]) == "0.10"


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        check_payload(event(), now=datetime(2025, 6, 1))


@pytest.mark.parametrize("event_type", [ABSENT, "page_view", "add_to_cart", "purchase"])
def test_cross_field_rules_agree_with_json_schema_on_absent_and_null_fields(event_type):
    rules_only = Draft202012Validator({"allOf": load_contract()["allOf"]})
    rules = cross_field_rules()
    fields = {"product_id": "p_1", "price_gbp": Decimal("1.00"), "quantity": 1}
    for states in itertools.product((ABSENT, None, "value"), repeat=len(fields)):
        document = {} if event_type == ABSENT else {"event_type": event_type}
        for (name, value), state in zip(fields.items(), states, strict=True):
            if state != ABSENT:
                document[name] = value if state == "value" else None
        assert all(rule.holds(document) for rule in rules) == rules_only.is_valid(document), document


def test_a_rule_of_another_shape_is_an_error_naming_it():
    contract = load_contract()
    contract["allOf"].append({"description": "odd rule", "if": {"properties": {"quantity": {"minimum": 5}}}})
    with pytest.raises(ValueError, match="odd rule"):
        cross_field_rules(contract)


def test_compact_json_is_read_without_the_fallback_decoder(monkeypatch):
    def fallback():
        raise AssertionError("the fallback decoder read a compact, canonical payload")

    monkeypatch.setattr(contract_fast, "json_decoder", fallback)
    document, violations = check_payload(compact(), now=NOW)
    assert violations == [] and document["price_gbp"] == Decimal("19.99")
