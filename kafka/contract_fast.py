"""A compiled fast path over the same contract: valid events skip jsonschema, all others get its exact reasons.

The contract's keywords become straight-line Python, generated once, that can only say yes where jsonschema says
yes (the same patterns, format checker, bounds and exact multipleOf), so a document the fast path accepts is valid
by the contract's own rules; anything it doubts goes to `validate_payload`, the authority, for verdict and reasons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec

from kafka.contract import (
    CONTRACT_PATH,
    Violation,
    cross_field_rules,
    format_checker,
    json_decoder,
    load_contract,
    max_future_skew,
    multiple_of,
    parse_rfc3339,
    validate_payload,
)

_ANNOTATIONS = frozenset({"description", "examples", "title", "default", "$comment"})
_TOP_LEVEL = frozenset({"$schema", "$id", "type", "required", "properties", "allOf", *_ANNOTATIONS})
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, Decimal),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_ABSENT = object()
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_payload(raw: bytes | None, *, now: datetime) -> tuple[dict[str, Any] | None, list[Violation]]:
    """The parsed object (None if the value is not one) and validate_payload's verdict, computed cheaply when valid."""
    if now.tzinfo is None:
        raise ValueError("check_payload needs a timezone-aware `now` (UTC), got a naive datetime")
    document = _parse(raw)
    if document is not None and _compiled()(document, now):
        return document, []
    return document, validate_payload(raw, now=now)


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON object in `raw` with the contract's parsing rules, or None when it is not one.

    msgspec reads it first (numbers as exact decimals from their text); its result is used only if msgspec writes
    it back to exactly `raw`, which rules out a repeated key, NaN, a BOM or any text the two parsers could read
    differently. Any other value is read by the contract's own decoder."""
    if raw is None:
        return None
    raw = bytes(raw)
    try:
        document = _DECODER.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        document = None
    if type(document) is dict and _ENCODER.encode(document) == raw:
        return document
    try:
        document = json_decoder().decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return document if type(document) is dict else None


@lru_cache(maxsize=1)
def _compiled() -> Callable[[dict[str, Any], datetime], bool]:
    """The contract compiled once per process, loaded by the authority's own loader (works from a zip)."""
    return compile_contract(load_contract())


def compile_contract(contract: dict[str, Any]) -> Callable[[dict[str, Any], datetime], bool]:
    """`accepts(document, now)`, true only if validate_payload would find no violation: straight-line code per
    property, generated once. A keyword it does not implement is an error naming it, never ignored."""
    unknown = sorted(set(contract) - _TOP_LEVEL - {k for k in contract if k.startswith("x-")})
    if unknown or contract.get("type") != "object" or "event_ts" not in contract.get("required", []):
        raise ValueError(
            f"{CONTRACT_PATH}: the fast path supports a top-level object schema with {sorted(_TOP_LEVEL)} and a "
            f"required event_ts; found type {contract.get('type')!r} and {unknown}: extend kafka/contract_fast.py"
        )
    names = _Names()
    lines = ["def accepts(document, now):", "    get = document.get"]
    lines += [f"    if {names.bind(name)} not in document: return False" for name in contract.get("required", [])]
    for name, definition in contract["properties"].items():
        lines.append(f"    value = get({names.bind(name)}, ABSENT)")
        lines.append("    if value is not ABSENT:")
        for keyword, argument in definition.items():
            if keyword not in _ANNOTATIONS and not keyword.startswith("x-"):
                lines.append(f"        if not ({_condition(name, keyword, argument, names)}): return False")
    lines += [f"    if not {names.bind(rule.holds)}(document): return False" for rule in cross_field_rules(contract)]
    lines.append(f"    moment = {names.bind(parse_rfc3339)}(document['event_ts'])")
    lines.append(f"    return moment is not None and moment <= now + {names.bind(max_future_skew())}")
    namespace = {"ABSENT": _ABSENT, "NUMBER": (int, Decimal), **names.values}
    exec(compile("\n".join(lines), f"<fast path of {CONTRACT_PATH.name}>", "exec"), namespace)
    return namespace["accepts"]


class _Names:
    """Constants the generated code refers to by name (k0, k1, ...), so no value is ever pasted into source."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"k{len(self.values)}"
        self.values[name] = value
        return name


def _condition(name: str, keyword: str, argument: Any, names: _Names) -> str:
    """A Python expression over `value` that is true exactly when (or only when) jsonschema's keyword holds."""
    if keyword == "type":
        types = tuple(dict.fromkeys(t for declared in _as_list(argument) for t in _JSON_TYPES[declared]))
        return f"type(value) in {names.bind(types)}"
    if keyword in ("enum", "const"):
        allowed = _as_list(argument) if keyword == "enum" else [argument]
        if not all(isinstance(v, str) or v is None for v in allowed):
            raise ValueError(f"{CONTRACT_PATH}: {keyword} of {name!r} has non-string values; extend the fast path")
        strings = names.bind(frozenset(v for v in allowed if v is not None))
        null = " or value is None" if None in allowed else ""
        return f"(type(value) is str and value in {strings}){null}"
    if keyword == "pattern":
        return f"type(value) is not str or {names.bind(re.compile(argument).search)}(value) is not None"
    if keyword == "format":
        return f"type(value) is not str or {names.bind(_format_check(argument))}(value)"
    if keyword in _BOUNDS:
        return f"type(value) not in NUMBER or value {_BOUNDS[keyword]} {names.bind(argument)}"
    if keyword == "multipleOf":
        return f"type(value) not in NUMBER or {names.bind(multiple_of(argument))}(value)"
    raise ValueError(f"{CONTRACT_PATH}: keyword {keyword!r} of property {name!r} is not in the fast path; extend it")


def _format_check(name: str) -> Callable[[str], bool]:
    """The authority's own check for a format (as its FormatChecker.conforms runs it); a canonical UUID is accepted
    without a call, since uuid.UUID accepts every one."""
    check, raises = format_checker().checkers[name]

    def conforms(value: str) -> bool:
        try:
            return bool(check(value))
        except raises:
            return False

    if name == "uuid":
        canonical = _CANONICAL_UUID.fullmatch
        return lambda value: canonical(value) is not None or conforms(value)
    return conforms


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
