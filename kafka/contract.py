"""The event contract: one JSON Schema file, the quarantine reason codes, and the checks all layers share."""

from __future__ import annotations

import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation, localcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONTRACT_PATH = SCHEMA_DIR / "event.schema.json"
RELEASED_DIR = SCHEMA_DIR / "released"

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_FORMAT = "invalid_format"
INVALID_ENUM = "invalid_enum"
OUT_OF_RANGE = "out_of_range"
RULE_VIOLATION = "rule_violation"
FUTURE_TIMESTAMP = "future_timestamp"
UNREPRESENTABLE = "unrepresentable"
"""Valid by the contract, yet a layer could not store it: the pipeline's gap, kept in quarantine with the error
(docs/event_contract.md); never a stopped stream."""

REASON_CODES: tuple[str, ...] = (
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    WRONG_TYPE,
    INVALID_FORMAT,
    INVALID_ENUM,
    OUT_OF_RANGE,
    RULE_VIOLATION,
    FUTURE_TIMESTAMP,
    UNREPRESENTABLE,
)

_REASON_BY_KEYWORD = {
    "required": MISSING_FIELD,
    "type": WRONG_TYPE,
    "format": INVALID_FORMAT,
    "pattern": INVALID_FORMAT,
    "minLength": INVALID_FORMAT,
    "maxLength": INVALID_FORMAT,
    "enum": INVALID_ENUM,
    "const": INVALID_ENUM,
    "minimum": OUT_OF_RANGE,
    "maximum": OUT_OF_RANGE,
    "exclusiveMinimum": OUT_OF_RANGE,
    "exclusiveMaximum": OUT_OF_RANGE,
    "multipleOf": OUT_OF_RANGE,
}

_BESIDE_WRONG_TYPE = frozenset({WRONG_TYPE, RULE_VIOLATION})
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)
_UTC_MILLIS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")
_DECIMAL_REPR = re.compile(r"Decimal\('([^']*)'\)")
_DETAIL_CHARS = 200


@dataclass(frozen=True)
class Violation:
    """One reason an event is quarantined: a stable code, the field concerned, and what was wrong."""

    reason: str
    field: str | None
    detail: str


def load_contract() -> dict[str, Any]:
    """A fresh copy of the contract; read as package data so it also loads from a --py-files zip."""
    return json.loads(pkgutil.get_data("kafka", "schemas/event.schema.json"))


def contract_version() -> str:
    """The contract's semantic version (major.minor.patch) from x-contract-version."""
    return _contract()["x-contract-version"]


def schema_version() -> str:
    """The major.minor a producer writes into each event's schema_version field."""
    major, minor, _ = contract_version().split(".")
    return f"{major}.{minor}"


def max_future_skew() -> timedelta:
    """How far after ingestion an event_ts may lie, from the contract's x-max-future-skew."""
    text = _contract()["x-max-future-skew"]
    match = _DURATION.fullmatch(text)
    if not match or not any(match.groups()):
        raise ValueError(f"x-max-future-skew {text!r} in {CONTRACT_PATH} is not a duration like PT5M")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


_ABSENT = object()


@dataclass(frozen=True)
class CrossFieldRule:
    """One of the contract's allOf rules: when `key` is present and one of `values`, the `required` properties
    are present, the `not_null` ones are not null, and the `null` ones are absent or null."""

    description: str
    key: str
    values: tuple[Any, ...]
    required: tuple[str, ...]
    not_null: tuple[str, ...]
    null: tuple[str, ...]

    def holds(self, document: dict[str, Any]) -> bool:
        """The rule's verdict on a parsed object, as JSON Schema gives it (loops, not generators: it runs per event)."""
        if document.get(self.key, _ABSENT) not in self.values:
            return True
        for name in self.required:
            if name not in document:
                return False
        for name in self.not_null:
            if name in document and document[name] is None:
                return False
        for name in self.null:
            if document.get(name) is not None:
                return False
        return True


def cross_field_rules(contract: dict[str, Any] | None = None) -> list[CrossFieldRule]:
    """The allOf if/then rules in the one shape every engine checks (Delta CHECK constraints, the compiled fast
    path); jsonschema stays the authority for reasons. Any other rule shape is an error naming the rule."""
    contract = contract or _contract()
    return [_cross_field_rule(rule) for rule in contract.get("allOf", [])]


def _cross_field_rule(rule: dict[str, Any]) -> CrossFieldRule:
    description = rule.get("description", "")
    unsupported = ValueError(
        f"allOf rule {description!r} in {CONTRACT_PATH} is not of the supported shape: "
        "if one property is in an enum (or equals a const) then properties are required, not null or null"
    )
    condition = rule.get("if", {})
    tests = condition.get("properties", {})
    if len(tests) != 1 or set(rule) - {"if", "then", "description"} or set(condition) - {"properties", "required"}:
        raise unsupported
    ((key, test),) = tests.items()
    if set(test) not in ({"enum"}, {"const"}) or condition.get("required", [key]) != [key]:
        raise unsupported
    then = rule.get("then", {})
    not_null, null = [], []
    for name, definition in then.get("properties", {}).items():
        if definition == {"not": {"type": "null"}}:
            not_null.append(name)
        elif definition == {"type": "null"}:
            null.append(name)
        else:
            raise unsupported
    if set(then) - {"required", "properties"}:
        raise unsupported
    values = tuple(test["enum"]) if "enum" in test else (test["const"],)
    return CrossFieldRule(description, key, values, tuple(then.get("required", [])), tuple(not_null), tuple(null))


@lru_cache(maxsize=1)
def json_decoder() -> json.JSONDecoder:
    """The contract's JSON parsing rules, built once (json.loads with options builds a decoder per call): numbers
    as exact decimals, NaN and Infinity refused, a key repeated within one object refused."""
    return json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def validate_payload(raw: bytes | None, *, now: datetime) -> list[Violation]:
    """Every contract violation in one Kafka value, judged at ingestion time `now`; empty means valid."""
    if now.tzinfo is None:
        raise ValueError("validate_payload needs a timezone-aware `now` (UTC), got a naive datetime")
    if raw is None:
        return [Violation(INVALID_JSON, None, "the Kafka value is null (a tombstone), not a JSON object")]
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Violation(INVALID_UTF8, None, f"not UTF-8: {exc.reason} at byte {exc.start}")]
    try:
        document = json_decoder().decode(text)
    except (ValueError, RecursionError) as exc:
        return [Violation(INVALID_JSON, None, _shorten(f"not JSON: {exc}"))]
    if not isinstance(document, dict):
        return [Violation(NOT_AN_OBJECT, None, f"the JSON value is a JSON {_json_type(document)}, not an object")]
    return object_violations(document, now=now)


def object_violations(
    document: dict[str, Any], *, now: datetime, validator: Draft202012Validator | None = None
) -> list[Violation]:
    """validate_payload's verdict on an object its decoder produced. `validator` (default: the whole contract's)
    may be contract_validator of the contract less properties the caller has proved valid: the verdict is the same.
    """
    found: dict[tuple[str, str | None], Violation] = {}
    for error in (validator or _validator()).iter_errors(document):
        for violation in _violations_of(error):
            found.setdefault((violation.reason, violation.field), violation)
    mistyped = {field for reason, field in found if reason == WRONG_TYPE}
    found = {key: v for key, v in found.items() if v.field not in mistyped or v.reason in _BESIDE_WRONG_TYPE}
    if not any(field == "event_ts" for _, field in found):
        future = _future_violation(document.get("event_ts"), now)
        if future:
            found[(future.reason, future.field)] = future
    return sorted(found.values(), key=lambda v: (v.field or "", v.reason))


def contract_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Changes from `old` to `new` that are not additive, so need a major version bump; empty if additive."""
    changes: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, before in old_props.items():
        after = new_props.get(name)
        if after is None:
            changes.append(f"property {name!r} removed")
        else:
            changes.extend(_property_diff(name, before, after))
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        changes.append(f"property {name!r} is newly required")
    if old.get("allOf", []) != new.get("allOf", []):
        changes.append("cross-field rules (allOf) changed")
    if new.get("additionalProperties", True) is not True and old.get("additionalProperties", True) is True:
        changes.append("unknown extra fields are no longer allowed (additionalProperties)")
    return changes


def _property_diff(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Non-additive changes to one property's definition."""
    changes = []
    if _types(before) != _types(after):
        changes.append(f"type of {name!r} changed from {sorted(_types(before))} to {sorted(_types(after))}")
    if before.get("x-logical-type") != after.get("x-logical-type"):
        changes.append(
            f"logical type of {name!r} changed from {before.get('x-logical-type')!r} to {after.get('x-logical-type')!r}"
        )
    if "enum" in after:
        if "enum" not in before:
            changes.append(f"{name!r} newly restricted to an enum")
        else:
            removed = [value for value in before["enum"] if value not in after["enum"]]
            if removed:
                changes.append(f"enum value(s) {removed} removed from {name!r}")
    for keyword in ("const", "pattern", "format"):
        was = before.get(keyword)
        if keyword in after and after[keyword] != was:
            changes.append(f"{keyword} of {name!r} changed from {was!r} to {after[keyword]!r}")
    for keyword in ("minimum", "exclusiveMinimum", "minLength", "maximum", "exclusiveMaximum", "maxLength"):
        if keyword not in after:
            continue
        was, bound = before.get(keyword), after[keyword]
        lower = keyword in ("minimum", "exclusiveMinimum", "minLength")
        if was is None or (bound > was if lower else bound < was):
            changes.append(f"{keyword} of {name!r} tightened from {was!r} to {bound!r}")
    if "multipleOf" in after and (
        "multipleOf" not in before or Decimal(str(before["multipleOf"])) % Decimal(str(after["multipleOf"])) != 0
    ):
        changes.append(f"multipleOf of {name!r} tightened from {before.get('multipleOf')!r} to {after['multipleOf']!r}")
    return changes


def _types(definition: dict[str, Any]) -> frozenset[str]:
    """A property's JSON types as a set, whether written as a string or a list."""
    declared = definition.get("type", [])
    return frozenset([declared] if isinstance(declared, str) else declared)


@lru_cache(maxsize=1)
def _contract() -> dict[str, Any]:
    """The contract parsed once per process, for read-only use inside this module."""
    return load_contract()


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return contract_validator(_contract())


def contract_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of `schema` with exact decimal multipleOf, ECMA-262 patterns and formats that are really checked."""
    exact = validators.extend(Draft202012Validator, {"multipleOf": _exact_multiple_of, "pattern": _ecma_pattern})
    return exact(schema, format_checker=format_checker())


def ecma_regex(pattern: str, *, end_of_input: str = r"\Z") -> str:
    """`pattern` as JSON Schema reads it (ECMA-262, no multiline flag) for an engine whose `$` also matches before a
    final line break (Python's re, Java's regex): every `$` anchor outside a character class becomes
    `end_of_input` (`\\Z` for Python, `\\z` for Java), so "u_1\\n" does not pass `^[A-Za-z0-9_-]{1,64}$`."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        else:
            out.append(end_of_input if char == "$" else char)
    return "".join(out)


@lru_cache(maxsize=64)
def ecma_search(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """The search function of a contract pattern compiled for Python with ECMA-262's meaning of `$`, `\\d` and `\\w`
    (ASCII only)."""
    return re.compile(ecma_regex(pattern), re.ASCII).search


def _ecma_pattern(validator, pattern, instance, schema):
    """jsonschema's pattern keyword with ECMA-262 anchors (its own uses Python's re as is)."""
    if validator.is_type(instance, "string") and ecma_search(pattern)(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def format_checker() -> FormatChecker:
    """The formats the contract's validator checks (date-time as a real RFC 3339 instant); the fast path asks it too."""
    checker = FormatChecker()
    checker.checks("date-time")(_is_rfc3339)
    return checker


def _violations_of(error: ValidationError) -> list[Violation]:
    """The reason codes one jsonschema error stands for, naming the field it concerns."""
    in_rule = bool(error.relative_schema_path) and error.relative_schema_path[0] == "allOf"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        reason = RULE_VIOLATION if in_rule else MISSING_FIELD
        why = f" for event_type {error.instance.get('event_type')!r}" if in_rule else ""
        return [Violation(reason, name, f"{name} is required{why} but absent") for name in missing]
    field = str(error.absolute_path[0]) if error.absolute_path else None
    if in_rule:
        rule = _rule_description(error) or f"cross-field rule {list(error.relative_schema_path)}"
        return [Violation(RULE_VIOLATION, field, _shorten(f"{field} is {_render(error.instance)}: {rule}"))]
    reason = _REASON_BY_KEYWORD.get(error.validator, WRONG_TYPE)
    message = _DECIMAL_REPR.sub(r"\1", error.message)
    return [Violation(reason, field, _shorten(f"{field}: {message}" if field else message))]


def _rule_description(error: ValidationError) -> str | None:
    """The description of the allOf rule an error broke, as written in the contract."""
    index = error.relative_schema_path[1] if len(error.relative_schema_path) > 1 else None
    rules = _contract().get("allOf", [])
    if isinstance(index, int) and index < len(rules):
        return rules[index].get("description")
    return None


def _future_violation(event_ts: Any, now: datetime) -> Violation | None:
    """A violation if a well-formed event_ts lies more than the allowed skew after `now`."""
    if not isinstance(event_ts, str):
        return None
    moment = parse_rfc3339(event_ts)
    if moment is None:
        return None
    limit = now + max_future_skew()
    if moment > limit:
        return Violation(
            FUTURE_TIMESTAMP,
            "event_ts",
            f"event_ts {event_ts} is {moment - now} after ingestion at {now.isoformat()}, "
            f"more than the allowed {max_future_skew()}",
        )
    return None


def _is_rfc3339(instance: object) -> bool:
    """date-time format check: a real RFC 3339 instant, not just something that looks like one."""
    return not isinstance(instance, str) or parse_rfc3339(instance) is not None


def parse_rfc3339(text: str) -> datetime | None:
    """The instant an RFC 3339 timestamp names, or None if it is not one (bad calendar date, no zone).

    The contract's own form (UTC, milliseconds, ASCII digits) goes through datetime.fromisoformat, which reads it
    the same way and is several times faster; every other form through the general grammar."""
    if _UTC_MILLIS.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    match = _RFC3339.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(0)
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
        micros = int((fraction or "0").ljust(6, "0")[:6])
        calendar = map(int, (year, month, day, hour, minute, second))
        return datetime(*calendar, micros, tzinfo=timezone(offset))
    except ValueError:
        return None


def _exact_multiple_of(validator, divisor, instance, schema):
    """multipleOf in decimal arithmetic, so 19.99 is a multiple of 0.01 and 1e400 cannot hang or crash."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    value = Decimal(str(instance)) if isinstance(instance, float) else Decimal(instance)
    if not value.is_finite():
        yield ValidationError(f"{instance!r} is not a finite number")
        return
    if multiple_of(divisor)(value):
        return
    if Decimal(str(divisor)).normalize().as_tuple().digits == (1,):
        yield ValidationError(f"{instance} has more decimal places than a multiple of {divisor} allows")
    else:
        yield ValidationError(f"{instance} is not a multiple of {divisor}")


@lru_cache(maxsize=16)
def multiple_of(divisor: float | int | Decimal) -> Callable[[int | Decimal], bool]:
    """The exact multipleOf test for one divisor, with the divisor's digits worked out once."""
    step = Decimal(str(divisor))
    _, step_digits, step_exponent = step.normalize().as_tuple()
    if step_digits == (1,):

        def power_of_ten(value: int | Decimal) -> bool:
            _, digits, exponent = Decimal(value).as_tuple()
            if exponent >= step_exponent:
                return True
            trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
            return not any(digits) or exponent + trailing_zeros >= step_exponent

        return power_of_ten

    def any_step(value: int | Decimal) -> bool:
        value = Decimal(value)
        with localcontext() as context:
            context.prec = max(28, value.adjusted() - step.adjusted() + 10)
            try:
                return value % step == 0
            except InvalidOperation:
                return False

    return any_step


def _reject_constant(name: str) -> None:
    """NaN and Infinity are not JSON numbers; refusing them keeps money and counts finite."""
    raise ValueError(f"{name} is not a valid JSON number literal")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique, so no reader can pick a different value than we validated."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r} in one object")
    return document


def _json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, Decimal)):
        return "number"
    return {str: "string", list: "array"}.get(type(value), type(value).__name__)


def _render(value: Any) -> str:
    """A parsed JSON value written back as JSON, for messages."""
    return str(value) if isinstance(value, Decimal) else json.dumps(value)


def _shorten(text: str) -> str:
    """A detail short enough to store per quarantined row even when the payload is huge."""
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."
