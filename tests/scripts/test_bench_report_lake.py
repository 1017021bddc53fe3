"""make bench-report's generated lake balances its ledger, so the pages it times show no MISMATCH."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.reconciliation import balanced, stream_totals
from scripts.bench.report_window import build_lake
from scripts.report.sources import row_count


@pytest.mark.parametrize(("rows", "batches"), [(2_000, 20), (300, 3)])
def test_the_bench_lake_balances(tmp_path: Path, rows: int, batches: int) -> None:
    build_lake(rows, batches, hours_apart=1.0, lake=tmp_path)
    totals = stream_totals(DeltaTable(str(tmp_path / "silver" / "metrics")).to_pyarrow_table().to_pylist())
    assert balanced(totals, row_count(DeltaTable(str(tmp_path / "bronze" / "events"))))
    assert totals["inserted"] == row_count(DeltaTable(str(tmp_path / "silver" / "events"))) == rows
    assert totals["quarantined"] == row_count(DeltaTable(str(tmp_path / "silver" / "quarantine"))) > 0
