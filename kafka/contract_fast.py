"""A compiled fast path over the same contract: valid events skip jsonschema, all others get its exact reasons.

The contract's keywords become straight-line Python, generated once, that can only say yes where jsonschema says
yes (the same patterns, format checker, bounds and exact multipleOf), so a document the fast path accepts is valid
by the contract's own rules; anything it doubts goes to the authority (kafka.contract) for verdict and reasons.
The parts the generated code proved valid (properties, the required list, cross-field rules) are left out of the
schema the authority then checks: jsonschema would find nothing there, and skipping them makes a rejected event
several times cheaper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec
from jsonschema import Draft202012Validator

from kafka.contract import (
    CONTRACT_PATH,
    Violation,
    contract_validator,
    cross_field_rules,
    ecma_search,
    format_checker,
    json_decoder,
    load_contract,
    max_future_skew,
    multiple_of,
    object_violations,
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
    if document is None:
        return None, validate_payload(raw, now=now)
    fast = _compiled()
    if fast.accepts(document, now):
        return document, []
    return document, object_violations(document, now=now, validator=_validator_of(fast.doubted(document)))


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


class Doubt(NamedTuple):
    """The parts of the contract a document may break: jsonschema finds no error in any other part."""

    properties: frozenset[str]
    """Present properties whose checks fail."""
    required: bool
    """A required property is absent."""
    rules: frozenset[int]
    """Indexes into the contract's allOf of the cross-field rules that do not hold."""


@dataclass(frozen=True)
class FastPath:
    """The contract compiled to two functions sharing one set of checks.

    `accepts(document, now)`: true only if the authority would find no violation.
    `doubted(document)`: the Doubt naming every part of the contract the document may break.
    """

    accepts: Callable[[dict[str, Any], datetime], bool]
    doubted: Callable[[dict[str, Any]], Doubt]


@lru_cache(maxsize=1)
def _compiled() -> FastPath:
    """The contract compiled once per process, loaded by the authority's own loader (works from a zip)."""
    return compile_contract(load_contract())


@lru_cache(maxsize=256)
def _validator_of(doubt: Doubt) -> Draft202012Validator:
    """The authority's validator for the doubted parts of the contract. A rule that holds becomes the empty schema
    rather than leaving allOf, so the authority still names a broken rule by its index in the contract."""
    contract = load_contract()
    contract["properties"] = {name: rule for name, rule in contract["properties"].items() if name in doubt.properties}
    if not doubt.required:
        contract.pop("required", None)
    contract["allOf"] = [rule if index in doubt.rules else {} for index, rule in enumerate(contract.get("allOf", []))]
    return contract_validator(contract)


def compile_contract(contract: dict[str, Any]) -> FastPath:
    """The FastPath of `contract`: straight-line code per property, generated once. A keyword it does not
    implement is an error naming it, never ignored."""
    unknown = sorted(set(contract) - _TOP_LEVEL - {k for k in contract if k.startswith("x-")})
    if unknown or contract.get("type") != "object" or "event_ts" not in contract.get("required", []):
        raise ValueError(
            f"{CONTRACT_PATH}: the fast path supports a top-level object schema with {sorted(_TOP_LEVEL)} and a "
            f"required event_ts; found type {contract.get('type')!r} and {unknown}: extend kafka/contract_fast.py"
        )
    names = _Names()
    checks = {
        name: [
            _condition(name, keyword, argument, names)
            for keyword, argument in definition.items()
            if keyword not in _ANNOTATIONS and not keyword.startswith("x-")
        ]
        for name, definition in contract["properties"].items()
    }
    accepts = ["def accepts(document, now):", "    get = document.get"]
    required = [names.bind(name) for name in contract.get("required", [])]
    accepts += [f"    if {key} not in document: return False" for key in required]
    doubted = ["def doubted(document):", "    get = document.get", "    found = []"]
    for name, conditions in checks.items():
        if not conditions:
            continue
        key, holds = names.bind(name), " and ".join(f"({condition})" for condition in conditions)
        broken = f"    value = get({key}, ABSENT)\n    if value is not ABSENT and not ({holds}):"
        accepts.append(f"{broken} return False")
        doubted.append(f"{broken} found.append({key})")
    rules = [names.bind(rule.holds) for rule in cross_field_rules(contract)]
    accepts += [f"    if not {holds}(document): return False" for holds in rules]
    accepts.append(f"    moment = {names.bind(parse_rfc3339)}(document['event_ts'])")
    accepts.append(f"    return moment is not None and moment <= now + {names.bind(max_future_skew())}")
    missing = " or ".join(f"{key} not in document" for key in required) or "False"
    doubted.append("    failing = []")
    doubted += [f"    if not {holds}(document): failing.append({index})" for index, holds in enumerate(rules)]
    doubted.append(f"    return Doubt(frozenset(found), {missing}, frozenset(failing))")
    namespace = {"ABSENT": _ABSENT, "NUMBER": (int, Decimal), "Doubt": Doubt, **names.values}
    source = "\n".join([*accepts, *doubted])
    exec(compile(source, f"<fast path of {CONTRACT_PATH.name}>", "exec"), namespace)
    return FastPath(namespace["accepts"], namespace["doubted"])


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
        return f"type(value) is not str or {names.bind(ecma_search(argument))}(value) is not None"
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
