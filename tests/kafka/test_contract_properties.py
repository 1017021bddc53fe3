"""Property-based checks of the contract's two validators: one verdict on every input, and ECMA-262 patterns."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kafka.contract import ecma_regex, load_contract, validate_payload
from kafka.contract_fast import check_payload
from tests.contract_events import event
from tests.hostile_payloads import NOW, PATTERNED, near_valid_payloads, payloads, valid_payloads
from tests.property_budget import examples


@settings(max_examples=examples(400), deadline=None)
@given(payloads)
@example(event(1, user_id="u_1\n"))
@example(event(1, country="GB\n"))
@example(event(1, event_ts="1600-01-01T00:00:00.000Z"))
@example(event(1, event_ts="0001-01-01T00:00:00.000Z"))
def test_the_fast_path_and_the_authority_give_one_verdict_on_every_value(raw):
    document, violations = check_payload(raw, now=NOW)
    assert violations == validate_payload(raw, now=NOW)
    if not violations:
        assert document == json.loads(raw, parse_float=Decimal)


@settings(max_examples=examples(200), deadline=None)
@given(valid_payloads())
def test_every_generated_valid_event_is_valid(raw):
    assert validate_payload(raw, now=NOW) == []


@settings(max_examples=examples(200), deadline=None)
@given(near_valid_payloads())
def test_a_near_valid_event_never_crashes_a_validator(raw):
    check_payload(raw, now=NOW)
    validate_payload(raw, now=NOW)


@pytest.mark.parametrize("field", PATTERNED)
@pytest.mark.parametrize("ending", ["\n", "\r\n", " ", "\t"])
def test_a_patterned_field_with_a_trailing_line_break_or_space_is_invalid_format(field, ending):
    value = json.loads(event(1))[field] + ending
    raw = event(1, **{field: value})
    violations = validate_payload(raw, now=NOW)
    assert [(v.reason, v.field) for v in violations] == [("invalid_format", field)]
    assert check_payload(raw, now=NOW)[1] == violations


def test_a_dollar_anchor_becomes_end_of_input_outside_classes_and_escapes():
    assert ecma_regex("^a$") == r"^a\Z"
    assert ecma_regex(r"^a\$[$]$", end_of_input=r"\z") == r"^a\$[$]\z"
    assert ecma_regex(r"^[\]$]x$") == r"^[\]$]x\Z"


@given(st.text(max_size=70))
def test_every_contract_pattern_read_as_ecma_matches_only_without_a_trailing_line_break(text):
    for name, definition in load_contract()["properties"].items():
        if "pattern" not in definition:
            continue
        ecma = re.compile(ecma_regex(definition["pattern"]), re.ASCII)
        if ecma.search(text):
            assert not text.endswith("\n"), name
            assert re.search(definition["pattern"], text), name
