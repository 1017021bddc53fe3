"""A compiled fast path over the same contract: valid events skip jsonschema, all others get its exact reasons."""

from __future__ import annotations

import json
import pkgutil
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import fastjsonschema

from kafka.contract import (
    CrossFieldRule,
    Violation,
    cross_field_rules,
    json_decoder,
    max_future_skew,
    validate_payload,
)

CONTRACT_RESOURCE = "schemas/event.schema.json"


def check_payload(raw: bytes | None, *, now: datetime) -> tuple[dict[str, Any] | None, list[Violation]]:
    """The parsed object (None if the value is not one) and validate_payload's verdict, computed cheaply when valid."""
    if now.tzinfo is None:
        raise ValueError("check_payload needs a timezone-aware `now` (UTC), got a naive datetime")
    document = _parse(raw)
    if document is not None and _fast_valid(document, now):
        return document, []
    return document, validate_payload(raw, now=now)


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON object in `raw` with the contract's parsing rules, or None when it is not one."""
    if raw is None:
        return None
    try:
        document = json_decoder().decode(bytes(raw).decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return document if type(document) is dict else None


def _fast_valid(document: dict[str, Any], now: datetime) -> bool:
    """True only when the compiled schema, the cross-field rules and the future-timestamp rule all accept it."""
    validate, multiples, rules = _compiled()
    try:
        validate(document)
        if not all(rule.holds(document) for rule in rules):
            return False
        for name, step in multiples:
            value = document.get(name)
            if value is not None and value % step != 0:
                return False
        return datetime.fromisoformat(document["event_ts"]) <= now + _skew()
    except (fastjsonschema.JsonSchemaException, ArithmeticError, ValueError, TypeError, KeyError):
        return False


@lru_cache(maxsize=1)
def _compiled() -> tuple[Any, tuple[tuple[str, Decimal], ...], tuple[CrossFieldRule, ...]]:
    """The contract compiled once per process. Top-level multipleOf is lifted out and checked in exact decimals,
    and the allOf rules as CrossFieldRule checks: compiled, each if/then costs a raised exception per event."""
    raw = pkgutil.get_data("kafka", CONTRACT_RESOURCE)
    if raw is None:
        raise FileNotFoundError(f"{CONTRACT_RESOURCE} is missing from the kafka package")
    schema = json.loads(raw, parse_float=Decimal)
    multiples = tuple(
        (name, Decimal(definition.pop("multipleOf")))
        for name, definition in schema["properties"].items()
        if "multipleOf" in definition
    )
    rules = tuple(cross_field_rules(schema))
    schema.pop("allOf", None)
    validate = fastjsonschema.compile(schema, formats={"uuid": _is_uuid, "date-time": _is_instant})
    return validate, multiples, rules


@lru_cache(maxsize=1)
def _skew() -> timedelta:
    return max_future_skew()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_instant(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
