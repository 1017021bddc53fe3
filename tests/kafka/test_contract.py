"""The contract file is a valid schema, validate_payload maps every kind of bad input to one stable reason."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator

from kafka import contract
from kafka.contract import (
    FUTURE_TIMESTAMP,
    INVALID_ENUM,
    INVALID_FORMAT,
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    OUT_OF_RANGE,
    REASON_CODES,
    RULE_VIOLATION,
    WRONG_TYPE,
    contract_diff,
    load_contract,
    validate_payload,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LOGICAL_TYPES = re.compile(r"string|timestamp|int|bigint|boolean|double|date|decimal\(\d+,\d+\)")

PURCHASE = {
    "event_id": "3f2a9c1e-7b4d-4e8a-9f21-0c5d6e7f8a9b",
    "event_ts": "2025-06-01T11:34:56.789Z",
    "event_type": "purchase",
    "product_id": "p_00042",
    "price_gbp": 19.99,
    "quantity": 2,
    "session_id": "s_9c3e5a7b1d2f4e60",
    "user_id": "u_0000123",
    "device": "mobile",
    "country": "GB",
    "schema_version": "1.0",
}
PAGE_VIEW = {**PURCHASE, "event_type": "page_view", "price_gbp": None, "quantity": None}


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def reasons(raw: bytes) -> set[tuple[str, str | None]]:
    return {(violation.reason, violation.field) for violation in validate_payload(raw, now=NOW)}


def released_snapshot(major: int) -> dict:
    path = contract.RELEASED_DIR / f"event.v{major}.schema.json"
    assert path.exists(), (
        f"contract major {major} has no released snapshot: copy {contract.CONTRACT_PATH} to {path} "
        "when releasing a new major version"
    )
    return json.loads(path.read_text(encoding="utf-8"))


def test_contract_and_released_snapshots_are_valid_draft_2020_12_schemas():
    Draft202012Validator.check_schema(load_contract())
    for snapshot in sorted(contract.RELEASED_DIR.glob("event.v*.schema.json")):
        Draft202012Validator.check_schema(json.loads(snapshot.read_text(encoding="utf-8")))


def test_every_property_names_a_logical_type_and_every_required_field_exists():
    schema = load_contract()
    for name, definition in schema["properties"].items():
        assert LOGICAL_TYPES.fullmatch(definition.get("x-logical-type", "")), name
    assert set(schema["required"]) <= set(schema["properties"])
    assert schema["properties"]["price_gbp"]["x-logical-type"] == "decimal(10,2)"
    assert schema["properties"]["event_ts"]["x-logical-type"] == "timestamp"


def test_versions_agree_between_id_version_field_and_events():
    schema = load_contract()
    major = contract.contract_version().split(".")[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", contract.contract_version())
    assert f"/v{major}/" in schema["$id"]
    assert contract.schema_version() == ".".join(contract.contract_version().split(".")[:2])
    assert re.fullmatch(schema["properties"]["schema_version"]["pattern"], contract.schema_version())
    assert not re.fullmatch(schema["properties"]["schema_version"]["pattern"], f"{int(major) + 1}.0")
    assert contract.max_future_skew() == timedelta(minutes=5)


def test_reason_codes_are_stable_and_distinct():
    assert REASON_CODES == (
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "invalid_format",
        "invalid_enum",
        "out_of_range",
        "rule_violation",
        "future_timestamp",
        "unrepresentable",
    )


@pytest.mark.parametrize("event", [PURCHASE, PAGE_VIEW, {**PURCHASE, "event_type": "add_to_cart"}])
def test_valid_events_have_no_violations(event):
    assert validate_payload(encode(event), now=NOW) == []


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"\xff\xfe{}", {(INVALID_UTF8, None)}),
        (encode(PURCHASE).replace(b"GB", b"G\xc3\x28"), {(INVALID_UTF8, None)}),
        (encode(PURCHASE).replace(b"s_9c", b"s_\xed\xa0\x80"), {(INVALID_UTF8, None)}),
        (b"", {(INVALID_JSON, None)}),
        (None, {(INVALID_JSON, None)}),
        (b"\x00", {(INVALID_JSON, None)}),
        (b"\x00" + encode(PURCHASE), {(INVALID_JSON, None)}),
        (encode(PURCHASE)[:-1], {(INVALID_JSON, None)}),
        (encode(PURCHASE).replace(b"19.99", b"NaN"), {(INVALID_JSON, None)}),
        (encode(PURCHASE).replace(b"19.99", b"Infinity"), {(INVALID_JSON, None)}),
        (encode(PURCHASE).replace(b"19.99", b"-Infinity"), {(INVALID_JSON, None)}),
        (encode(PURCHASE).replace(b'"quantity":2', b'"quantity":2,"quantity":-1'), {(INVALID_JSON, None)}),
        (b"[" + encode(PURCHASE) + b"]", {(NOT_AN_OBJECT, None)}),
        (b'"just a string"', {(NOT_AN_OBJECT, None)}),
        (b"42", {(NOT_AN_OBJECT, None)}),
        (b"null", {(NOT_AN_OBJECT, None)}),
        (encode({k: v for k, v in PURCHASE.items() if k != "device"}), {(MISSING_FIELD, "device")}),
        (encode({k: v for k, v in PURCHASE.items() if k != "event_id"}), {(MISSING_FIELD, "event_id")}),
        (encode({**PURCHASE, "quantity": "2"}), {(WRONG_TYPE, "quantity")}),
        (encode({**PURCHASE, "price_gbp": "19.99"}), {(WRONG_TYPE, "price_gbp")}),
        (encode({**PURCHASE, "quantity": 2.5}), {(WRONG_TYPE, "quantity")}),
        (encode({**PURCHASE, "quantity": True}), {(WRONG_TYPE, "quantity")}),
        (encode({**PURCHASE, "user_id": 123}), {(WRONG_TYPE, "user_id")}),
        (encode({**PURCHASE, "device": None}), {(WRONG_TYPE, "device")}),
        (encode({**PURCHASE, "event_ts": 1748777696789}), {(WRONG_TYPE, "event_ts")}),
        (encode({**PURCHASE, "event_id": "not-a-uuid"}), {(INVALID_FORMAT, "event_id")}),
        (encode({**PURCHASE, "event_id": PURCHASE["event_id"].upper()}), {(INVALID_FORMAT, "event_id")}),
        (encode({**PURCHASE, "event_ts": "2025-06-01T12:34:56.789+01:00"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_ts": "2025-06-01T11:34:56.789"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_ts": "2025-06-01 11:34:56.789Z"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_ts": "2025-06-01T11:34:56Z"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_ts": "2025-02-30T11:34:56.789Z"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_ts": "1748777696"}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "country": "gb"}), {(INVALID_FORMAT, "country")}),
        (encode({**PURCHASE, "country": "GBR"}), {(INVALID_FORMAT, "country")}),
        (encode({**PURCHASE, "country": "G\u0000"}), {(INVALID_FORMAT, "country")}),
        (encode({**PURCHASE, "user_id": "u_\u0000123"}), {(INVALID_FORMAT, "user_id")}),
        (encode({**PURCHASE, "user_id": "x" * 100_000}), {(INVALID_FORMAT, "user_id")}),
        (encode({**PURCHASE, "schema_version": "2.0"}), {(INVALID_FORMAT, "schema_version")}),
        (encode({**PURCHASE, "event_type": "refund"}), {(INVALID_ENUM, "event_type")}),
        (encode({**PURCHASE, "event_type": "PURCHASE"}), {(INVALID_ENUM, "event_type")}),
        (encode({**PURCHASE, "device": "smart_fridge"}), {(INVALID_ENUM, "device")}),
        (encode({**PURCHASE, "price_gbp": -19.99}), {(OUT_OF_RANGE, "price_gbp")}),
        (encode({**PURCHASE, "price_gbp": 0}), {(OUT_OF_RANGE, "price_gbp")}),
        (encode({**PURCHASE, "price_gbp": 100000.01}), {(OUT_OF_RANGE, "price_gbp")}),
        (encode({**PURCHASE, "price_gbp": 19.999}), {(OUT_OF_RANGE, "price_gbp")}),
        (encode(PURCHASE).replace(b"19.99", b"1e400"), {(OUT_OF_RANGE, "price_gbp")}),
        (encode(PURCHASE).replace(b"19.99", b"1e-400"), {(OUT_OF_RANGE, "price_gbp")}),
        (encode({**PURCHASE, "quantity": 0}), {(OUT_OF_RANGE, "quantity")}),
        (encode({**PURCHASE, "quantity": 10**30}), {(OUT_OF_RANGE, "quantity")}),
        (encode({**PURCHASE, "product_id": None}), {(RULE_VIOLATION, "product_id")}),
        (encode({k: v for k, v in PURCHASE.items() if k != "price_gbp"}), {(RULE_VIOLATION, "price_gbp")}),
        (encode({**PURCHASE, "quantity": None}), {(RULE_VIOLATION, "quantity")}),
        (encode({**PAGE_VIEW, "price_gbp": 19.99}), {(RULE_VIOLATION, "price_gbp")}),
        (encode({**PAGE_VIEW, "quantity": 1}), {(RULE_VIOLATION, "quantity")}),
        (encode({**PURCHASE, "event_ts": "2025-06-03T12:00:00.000Z"}), {(FUTURE_TIMESTAMP, "event_ts")}),
        (encode({**PURCHASE, "country": ""}), {(INVALID_FORMAT, "country")}),
        (encode({**PURCHASE, "user_id": ""}), {(INVALID_FORMAT, "user_id")}),
        (encode({**PURCHASE, "session_id": ""}), {(INVALID_FORMAT, "session_id")}),
        (encode({**PURCHASE, "event_id": ""}), {(INVALID_FORMAT, "event_id")}),
        (encode({**PURCHASE, "event_ts": ""}), {(INVALID_FORMAT, "event_ts")}),
        (encode({**PURCHASE, "event_type": ""}), {(INVALID_ENUM, "event_type")}),
        (encode({**PURCHASE, "device": ""}), {(INVALID_ENUM, "device")}),
    ],
)
def test_hostile_inputs_map_to_their_reason_and_field(raw, expected):
    assert reasons(raw) == expected


def test_several_problems_are_all_reported_each_once():
    raw = encode({**PURCHASE, "country": "gb", "quantity": 0, "device": "tv", "session_id": None})
    assert reasons(raw) == {
        (INVALID_FORMAT, "country"),
        (OUT_OF_RANGE, "quantity"),
        (INVALID_ENUM, "device"),
        (WRONG_TYPE, "session_id"),
    }


def test_details_name_the_field_and_stay_short():
    violations = validate_payload(encode({**PURCHASE, "user_id": "?" * 100_000}), now=NOW)
    assert [v.field for v in violations] == ["user_id"]
    assert violations[0].detail.startswith("user_id:")
    assert len(violations[0].detail) <= 200
    rule = validate_payload(encode({**PAGE_VIEW, "price_gbp": 5}), now=NOW)[0]
    assert "price_gbp" in rule.detail and "page view" in rule.detail.lower()


@pytest.mark.parametrize(
    "extra",
    [
        {"coupon": "SPRING"},
        {"nested": {"a": [1, 2, {"b": None}]}},
        {"price_gbp_v2": "19.99"},
        {"\u00e9": "\u0000"},
    ],
)
def test_unknown_extra_fields_are_accepted(extra):
    assert validate_payload(encode({**PURCHASE, **extra}), now=NOW) == []


@pytest.mark.parametrize("price", [b"0.07", b"0.29", b"1.1", b"19.990", b"99999.99", b"100000", b"7", b"1.10e1"])
def test_two_decimal_prices_pass_exactly_without_float_error(price):
    assert validate_payload(encode(PURCHASE).replace(b"19.99", price), now=NOW) == []


def test_page_view_price_and_quantity_may_be_absent_or_null():
    absent = {k: v for k, v in PAGE_VIEW.items() if k not in ("price_gbp", "quantity", "product_id")}
    assert validate_payload(encode(absent), now=NOW) == []
    assert validate_payload(encode({**PAGE_VIEW, "product_id": None}), now=NOW) == []


def test_future_skew_boundary_is_five_minutes_after_ingestion():
    at_limit = (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    past_limit = (NOW + timedelta(minutes=5, milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    assert validate_payload(encode({**PURCHASE, "event_ts": at_limit}), now=NOW) == []
    assert reasons(encode({**PURCHASE, "event_ts": past_limit})) == {(FUTURE_TIMESTAMP, "event_ts")}
    old = encode({**PURCHASE, "event_ts": "2019-01-01T00:00:00.000Z"})
    assert validate_payload(old, now=NOW) == []


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_payload(encode(PURCHASE), now=datetime(2025, 6, 1))


SMALL = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "x-logical-type": "string"},
        "kind": {"type": "string", "enum": ["a", "b"], "x-logical-type": "string"},
        "amount": {
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "maximum": 100,
            "multipleOf": 0.01,
            "x-logical-type": "decimal(10,2)",
        },
        "code": {"type": "string", "pattern": "^[A-Z]{2}$", "maxLength": 2, "x-logical-type": "string"},
    },
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def changed(edit) -> dict:
    schema = copy.deepcopy(SMALL)
    edit(schema)
    return schema


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s["properties"].update(note={"type": "string", "x-logical-type": "string"}),
        lambda s: s["properties"]["kind"]["enum"].append("c"),
        lambda s: s["properties"]["amount"].update(maximum=1000),
        lambda s: s["properties"]["amount"].update(multipleOf=0.001),
        lambda s: s["properties"]["code"].update(maxLength=3),
        lambda s: s["properties"]["amount"].update(description="clarified wording"),
    ],
)
def test_contract_diff_accepts_additive_changes(edit):
    assert contract_diff(SMALL, changed(edit)) == []


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda s: s["properties"].pop("code"), "'code' removed"),
        (lambda s: s["properties"]["amount"].update(type="string"), "type of 'amount'"),
        (
            lambda s: s["properties"]["amount"].update({"x-logical-type": "double"}),
            "logical type of 'amount'",
        ),
        (lambda s: s["required"].append("kind"), "'kind' is newly required"),
        (lambda s: s["properties"]["kind"]["enum"].remove("b"), "enum value(s) ['b'] removed"),
        (lambda s: s["properties"]["id"].update(enum=["x"]), "'id' newly restricted to an enum"),
        (lambda s: s["properties"]["code"].update(pattern="^[A-Z]{3}$"), "pattern of 'code'"),
        (lambda s: s["properties"]["id"].update(format="uuid"), "format of 'id'"),
        (lambda s: s["properties"]["amount"].update(maximum=50), "maximum of 'amount' tightened"),
        (
            lambda s: s["properties"]["amount"].update(exclusiveMinimum=1),
            "exclusiveMinimum of 'amount' tightened",
        ),
        (lambda s: s["properties"]["id"].update(minLength=3), "minLength of 'id' tightened"),
        (lambda s: s["properties"]["code"].update(maxLength=1), "maxLength of 'code' tightened"),
        (lambda s: s["properties"]["amount"].update(multipleOf=0.1), "multipleOf of 'amount' tightened"),
        (lambda s: s.update(additionalProperties=False), "no longer allowed"),
        (lambda s: s.update(allOf=[{"required": ["kind"]}]), "allOf"),
    ],
)
def test_contract_diff_reports_each_non_additive_change(edit, fragment):
    diff = contract_diff(SMALL, changed(edit))
    assert len(diff) == 1 and fragment in diff[0], diff


def test_contract_diff_catches_breaking_edits_to_the_real_contract():
    released = released_snapshot(1)
    broken = copy.deepcopy(released)
    del broken["properties"]["country"]
    broken["properties"]["event_type"]["enum"].remove("add_to_cart")
    broken["properties"]["price_gbp"]["x-logical-type"] = "double"
    assert len(contract_diff(released, broken)) == 3


def test_current_contract_is_additive_to_its_released_major_snapshot():
    current = load_contract()
    version = current["x-contract-version"]
    major = int(version.split(".")[0])
    released = released_snapshot(major)
    released_version = released["x-contract-version"]
    assert int(released_version.split(".")[0]) == major
    changes = contract_diff(released, current)
    assert changes == [], (
        f"kafka/schemas/event.schema.json ({version}) makes non-additive changes against "
        f"released/event.v{major}.schema.json: {changes}. Make the change additive, or bump the major "
        "version (x-contract-version, $id, schema_version pattern) and commit a new released snapshot."
    )
    if current != released:
        assert version_tuple(version) > version_tuple(released_version), (
            f"the contract differs from released/event.v{major}.schema.json but x-contract-version is "
            f"still {version}: bump the minor (new field or enum value) or patch (wording) version"
        )
