"""The reconciliation's Arrow reads agree with the manifest's Python definitions, without a Python row per event."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from config.reconciliation import ids_sha256
from config.settings import Settings
from scripts import reconcile

IDS = ["b", "a", "Z", "é", "ÿ", "\U0001f600", "a-1", "a1", ""]


@pytest.mark.parametrize("slice_size", [1, 2, 100_000])
def test_arrow_ids_sha256_is_the_manifests_hash(monkeypatch, slice_size: int):
    monkeypatch.setattr(reconcile, "HASH_SLICE", slice_size)
    assert reconcile.arrow_ids_sha256(pa.chunked_array([IDS[:4], IDS[4:]])) == ids_sha256(IDS)
    assert reconcile.arrow_ids_sha256(pa.chunked_array([[None, *IDS]])) == ids_sha256(IDS)
    assert reconcile.arrow_ids_sha256(pa.array([], pa.string())) == ids_sha256([])


def test_silver_revenue_is_the_exact_decimal_sum_of_purchases(settings: Settings, tmp_path):
    lake = dataclasses.replace(settings.storage, lake_uri=str(tmp_path), checkpoint_uri=str(tmp_path / "_c"))
    local = dataclasses.replace(settings, storage=lake)
    prices = [Decimal("0.10"), Decimal("0.10"), Decimal("99999.99"), None, Decimal("0.20")]
    quantities = [3, 1_000, 1_000, None, 7]
    kinds = ["purchase", "purchase", "purchase", "page_view", "add_to_cart"]
    events = pa.table(
        {
            "event_id": [f"e{i}" for i in range(5)],
            "event_type": kinds,
            "price_gbp": pa.array(prices, pa.decimal128(12, 2)),
            "quantity": pa.array(quantities, pa.int32()),
        }
    )
    write_deltalake(local.storage.table_uri("silver", "events"), events)
    revenue = reconcile.silver_revenue(local)
    assert revenue == Decimal("100.30") + Decimal("99999990.00")
    assert str(revenue) == "100000090.30"
