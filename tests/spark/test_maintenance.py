"""Maintenance finds every lake table, compacts and vacuums it, and leaves its rows unchanged."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable

from spark.jobs.maintenance import main as maintenance_main
from spark.maintenance import SMALL_FILE_PROPERTIES, check_retention, lake_tables, maintain


@pytest.fixture
def lake(spark, tmp_path):
    """Two small tables in two layers, each written in several appends (so several small files)."""
    for layer, name, batches in (("silver", "events", 4), ("gold", "dim_users", 3)):
        for batch in range(batches):
            rows = spark.range(batch * 10, batch * 10 + 10).selectExpr("id", "cast(id * 1.5 as decimal(10,2)) as v")
            rows.write.format("delta").mode("append").save(str(tmp_path / layer / name))
    (tmp_path / "_checkpoints" / "silver").mkdir(parents=True)
    (tmp_path / "gold" / "not_a_table").mkdir()
    return tmp_path


def _rows(spark, uri):
    return sorted(spark.read.format("delta").load(uri).collect())


def test_lake_tables_lists_only_delta_tables(spark, lake):
    assert lake_tables(spark, str(lake)) == [f"file:{lake}/gold/dim_users", f"file:{lake}/silver/events"]
    assert lake_tables(spark, str(lake / "missing")) == []


def test_maintain_compacts_sets_properties_and_keeps_rows(spark, lake):
    uris = lake_tables(spark, str(lake))
    before = {uri: _rows(spark, uri) for uri in uris}
    results = {result.uri: result for result in maintain(spark, str(lake))}
    assert set(results) == set(uris)
    silver = results[f"file:{lake}/silver/events"]
    assert silver.properties_set == tuple(sorted(SMALL_FILE_PROPERTIES))
    assert (silver.files_added_by_optimize, silver.files_vacuumed) == (1, 0)
    assert silver.files_removed_by_optimize >= 4
    for uri in uris:
        assert _rows(spark, uri) == before[uri]
        detail = DeltaTable.forPath(spark, uri).detail().first()
        assert detail["numFiles"] == 1
        assert {k: detail["properties"][k] for k in SMALL_FILE_PROPERTIES} == dict(SMALL_FILE_PROPERTIES)

    again = maintain(spark, str(lake))
    assert [(r.properties_set, r.files_removed_by_optimize, r.files_added_by_optimize) for r in again] == [
        ((), 0, 0),
        ((), 0, 0),
    ]
    for uri in uris:
        assert _rows(spark, uri) == before[uri]


def test_retention_below_seven_days_is_refused():
    check_retention(168)
    with pytest.raises(ValueError, match="--retention-hours >= 168"):
        check_retention(24)
    with pytest.raises(SystemExit):
        maintenance_main(["--retention-hours", "1"])
