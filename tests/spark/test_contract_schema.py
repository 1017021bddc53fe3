"""The silver event schema comes from the contract's x-logical-type annotations, so it follows contract changes."""

from __future__ import annotations

import copy

import pytest
from pyspark.sql.types import DecimalType, IntegerType, StringType, TimestampType

from kafka.contract import load_contract
from spark.contract_schema import contract_document, event_struct
from spark.silver_tables import contract_constraints


def test_types_follow_the_logical_types():
    struct = event_struct()
    assert struct.fieldNames() == list(load_contract()["properties"])
    assert struct["event_ts"].dataType == TimestampType()
    assert struct["price_gbp"].dataType == DecimalType(10, 2)
    assert struct["quantity"].dataType == IntegerType()
    assert struct["event_id"].dataType == StringType()
    assert not struct["event_id"].nullable and struct["price_gbp"].nullable


def test_resource_loading_matches_the_contract_file():
    assert contract_document() == load_contract()


def test_a_changed_annotation_changes_the_schema():
    contract = copy.deepcopy(load_contract())
    contract["properties"]["price_gbp"]["x-logical-type"] = "decimal(12,4)"
    contract["properties"]["channel"] = {"type": "string", "x-logical-type": "string"}
    struct = event_struct(contract)
    assert struct["price_gbp"].dataType == DecimalType(12, 4)
    assert struct["channel"].nullable


def test_unknown_logical_type_is_an_error_naming_the_property():
    contract = copy.deepcopy(load_contract())
    contract["properties"]["quantity"]["x-logical-type"] = "uint8"
    with pytest.raises(ValueError, match="quantity"):
        event_struct(contract)


def test_constraints_come_from_the_contract():
    checks = contract_constraints()
    assert "price_gbp > 0" in checks["contract_price_gbp"] and "<= 100000" in checks["contract_price_gbp"]
    assert "'page_view', 'add_to_cart', 'purchase'" in checks["contract_event_type"]
    assert "contract_event_ts" not in checks
    assert any("product_id IS NOT NULL" in c for c in checks.values())
