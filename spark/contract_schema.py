"""The Spark types of a silver event, derived from the contract's x-logical-type annotations, never restated."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from kafka.contract import load_contract

CONTRACT_FILE = "kafka/schemas/event.schema.json"

_SIMPLE_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "timestamp": TimestampType(),
    "date": DateType(),
    "int": IntegerType(),
    "long": LongType(),
    "boolean": BooleanType(),
    "double": DoubleType(),
}
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


@lru_cache(maxsize=1)
def contract_document() -> dict[str, Any]:
    """The contract, loaded once per process by the contract's own loader (works from a --py-files zip)."""
    return load_contract()


def spark_type(logical_type: str, where: str = "the contract") -> DataType:
    """The Spark type for one x-logical-type value such as 'timestamp' or 'decimal(10,2)'."""
    if logical_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[logical_type]
    match = _DECIMAL.fullmatch(logical_type)
    if match:
        return DecimalType(int(match.group(1)), int(match.group(2)))
    raise ValueError(
        f"x-logical-type {logical_type!r} of {where} in {CONTRACT_FILE} has no Spark type; "
        f"use one of {', '.join(_SIMPLE_TYPES)} or decimal(p,s)"
    )


def event_struct(contract: dict[str, Any] | None = None) -> StructType:
    """One field per contract property, in contract order; required properties are not nullable."""
    contract = contract or contract_document()
    required = set(contract.get("required", []))
    fields = []
    for name, definition in contract["properties"].items():
        logical = definition.get("x-logical-type")
        if logical is None:
            raise ValueError(f"property {name!r} in {CONTRACT_FILE} has no x-logical-type")
        fields.append(StructField(name, spark_type(logical, f"property {name!r}"), name not in required))
    return StructType(fields)
