"""Incremental gold equals a full rebuild, moves only touched rows, survives a crash and reruns as a no-op."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

import spark.gold_refresh as gold_refresh
from config.catalog import MARTS
from spark.gold_incremental import GoldPlan, GoldStateError, SilverPosition, in_dates, plan_run
from spark.gold_refresh import GoldPaths, GoldResult, refresh_gold
from spark.silver_tables import silver_schema
from tests.spark.gold_rows import assert_frames_equal, day, event, events

BATCH_1 = [
    event("1", "2024-03-01 10:00:00", "u1", "s1", "page_view", "p1"),
    event("2", "2024-03-01 10:01:00", "u1", "s1", "add_to_cart", "p1", "19.99", 2),
    event("3", "2024-03-01 10:02:30", "u1", "s1", "purchase", "p1", "19.99", 2),
    event("4", "2024-03-01 23:59:30", "u2", "s2", "page_view"),
    event("5", "2024-03-02 00:00:10", "u2", "s2", "purchase", "p2", "0.10", 3),
    event("6", "2024-03-02 09:00:00", "u1", "s3", "page_view", "p2"),
    event("7", "2024-03-03 12:00:00", "u4", "s4", "purchase", "p2", "5.00", 1),
]
# A late purchase for 1 March in a new session of u2: only 1 March, u2, p1 and s9 may change.
LATE = [event("8", "2024-03-01 15:00:00", "u2", "s9", "purchase", "p1", "2.50", 4)]
# A new day, and a late view that moves s3's first event (so its session day) from 2 to 1 March.
MOVING = [
    event("9", "2024-03-04 08:00:00", "u3", "s5", "page_view", "p3"),
    event("10", "2024-03-04 08:05:00", "u3", "s5", "add_to_cart", "p3", "1.05", 1),
    event("11", "2024-03-01 22:00:00", "u1", "s3", "page_view", "p2"),
]


@dataclass
class Scenario:
    paths: GoldPaths
    rebuilt: GoldPaths
    results: dict[str, GoldResult] = field(default_factory=dict)
    snapshots: dict[str, dict[str, set]] = field(default_factory=dict)
    versions: dict[str, dict[str, int]] = field(default_factory=dict)
    crash: Exception | None = None


def _append(spark: SparkSession, silver: str, rows: list[tuple]) -> None:
    events(spark, rows).write.format("delta").mode("append").save(silver)


def _make_silver(spark: SparkSession, root: Path) -> str:
    """Silver as the contract fixes it: partitioned by event_date, change data feed on."""
    uri = str(root / "silver" / "events")
    (
        DeltaTable.create(spark)
        .location(uri)
        .addColumns(silver_schema())
        .partitionedBy("event_date")
        .property("delta.enableChangeDataFeed", "true")
        .execute()
    )
    return uri


def _snapshot(spark: SparkSession, paths: GoldPaths) -> dict[str, set]:
    return {name: set(spark.read.format("delta").load(paths.mart(name)).collect()) for name in MARTS}


def _versions(spark: SparkSession, paths: GoldPaths) -> dict[str, int]:
    uris = {name: paths.mart(name) for name in MARTS} | {"_state": paths.state}
    return {name: DeltaTable.forPath(spark, uri).history(1).first()["version"] for name, uri in uris.items()}


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("gold_lake")
    silver = _make_silver(spark, root)
    state = Scenario(GoldPaths(silver, str(root / "gold")), GoldPaths(silver, str(root / "gold_rebuilt")))
    _append(spark, silver, BATCH_1)
    state.results["first"] = refresh_gold(spark, state.paths)
    state.snapshots["first"], state.versions["first"] = _snapshot(spark, state.paths), _versions(spark, state.paths)
    state.results["rerun"] = refresh_gold(spark, state.paths)
    state.versions["rerun"] = _versions(spark, state.paths)

    _append(spark, silver, LATE)
    state.results["late"] = refresh_gold(spark, state.paths)
    state.snapshots["late"] = _snapshot(spark, state.paths)

    _append(spark, silver, MOVING)
    original = gold_refresh._replace_days

    def crash_on_funnel(mart, uri, *rest):
        if uri.endswith("fct_funnel_daily"):
            raise RuntimeError("simulated crash after fct_sessions was merged")
        original(mart, uri, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gold_refresh, "_replace_days", crash_on_funnel)
        try:
            refresh_gold(spark, state.paths)
        except RuntimeError as exc:
            state.crash = exc
    state.results["after_crash"] = refresh_gold(spark, state.paths)
    state.results["rebuilt"] = refresh_gold(spark, state.rebuilt, full_refresh=True)
    yield state


def test_first_run_is_full_and_a_rerun_without_new_silver_moves_no_version(scenario):
    assert scenario.results["first"].plan.mode == "full"
    assert scenario.results["rerun"].plan == GoldPlan("noop", scenario.results["first"].plan.end_version)
    assert scenario.versions["rerun"] == scenario.versions["first"]


def test_late_event_rewrites_only_its_day_and_the_keys_it_touches(scenario):
    before, after = scenario.snapshots["first"], scenario.snapshots["late"]
    assert scenario.results["late"].plan.mode == "incremental"
    changed = {name: {row[0] for row in before[name] ^ after[name]} for name in MARTS}
    assert changed == {
        "fct_purchases_daily": {day("2024-03-01")},
        "fct_funnel_daily": {day("2024-03-01")},
        "dim_users": {"u2"},
        "dim_products": {"p1"},
        "fct_sessions": {"s9"},
    }
    assert scenario.results["late"].recomputed == {
        "fct_purchases_daily": 1,
        "fct_funnel_daily": 1,
        "dim_users": 1,
        "dim_products": 1,
        "fct_sessions": 1,
    }


def test_crash_mid_run_leaves_state_behind_and_the_rerun_catches_up(spark, scenario):
    assert scenario.crash is not None
    result = scenario.results["after_crash"]
    assert result.plan.mode == "incremental"
    assert result.plan.start_version == scenario.results["late"].plan.end_version + 1
    funnel = spark.read.format("delta").load(scenario.paths.mart("fct_funnel_daily"))
    assert {row["event_date"]: row["sessions"] for row in funnel.collect()} == {
        day("2024-03-01"): 4,
        day("2024-03-03"): 1,
        day("2024-03-04"): 1,
    }


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_equals_full_refresh(spark, scenario, mart):
    assert scenario.results["rebuilt"].plan.mode == "full"
    incremental = spark.read.format("delta").load(scenario.paths.mart(mart))
    rebuilt = spark.read.format("delta").load(scenario.rebuilt.mart(mart))
    assert incremental.schema == rebuilt.schema
    assert_frames_equal(incremental, rebuilt)


def test_vacuumed_change_feed_fails_asking_for_a_full_refresh(spark, tmp_path):
    silver = _make_silver(spark, tmp_path)
    paths = GoldPaths(silver, str(tmp_path / "gold"))
    _append(spark, silver, BATCH_1)
    processed = refresh_gold(spark, paths).plan.end_version
    spark.sql(f"ALTER TABLE delta.`{silver}` SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    _append(spark, silver, LATE)
    log = Path(silver) / "_delta_log"
    for version in range(processed + 2):
        os.remove(log / f"{version:020d}.json")
    with pytest.raises(GoldStateError, match="--full-refresh"):
        refresh_gold(spark, paths)
    assert refresh_gold(spark, paths, full_refresh=True).plan.mode == "full"


def test_plan_run_modes():
    def at(version, table_id="t1"):
        return SilverPosition(table_id, version)

    assert plan_run(None, at(4), full_refresh=False) == GoldPlan("full", 4)
    assert plan_run(at(4), at(4), full_refresh=True) == GoldPlan("full", 4)
    assert plan_run(at(4), at(4), full_refresh=False) == GoldPlan("noop", 4)
    assert plan_run(at(2), at(4), full_refresh=False) == GoldPlan("incremental", 4, 3)
    assert plan_run(at(2, None), at(4), full_refresh=False) == GoldPlan("incremental", 4, 3)
    with pytest.raises(GoldStateError, match="silver was recreated"):
        plan_run(at(5), at(4), full_refresh=False)
    with pytest.raises(GoldStateError, match="table id t1, but silver is now table id t2: silver was recreated"):
        plan_run(at(2), at(4, "t2"), full_refresh=False)
    assert plan_run(at(2), at(4, "t2"), full_refresh=True) == GoldPlan("full", 4)


def test_silver_recreated_past_the_recorded_version_is_refused(spark, tmp_path):
    silver = _make_silver(spark, tmp_path)
    paths = GoldPaths(silver, str(tmp_path / "gold"))
    _append(spark, silver, BATCH_1)
    recorded = refresh_gold(spark, paths).plan.end_version
    shutil.rmtree(silver)
    _make_silver(spark, tmp_path)
    _append(spark, silver, BATCH_1)
    _append(spark, silver, LATE)
    assert DeltaTable.forPath(spark, silver).history(1).first()["version"] > recorded
    with pytest.raises(GoldStateError, match="silver was recreated.*--full-refresh"):
        refresh_gold(spark, paths)


def test_state_from_before_the_table_id_is_trusted_and_gains_it(spark, tmp_path):
    silver = _make_silver(spark, tmp_path)
    paths = GoldPaths(silver, str(tmp_path / "gold"))
    _append(spark, silver, BATCH_1)
    recorded = refresh_gold(spark, paths).plan.end_version
    legacy = spark.createDataFrame([(recorded, "full")], "silver_version bigint, mode string")
    legacy.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(paths.state)
    _append(spark, silver, LATE)
    assert refresh_gold(spark, paths).plan == GoldPlan("incremental", recorded + 1, recorded + 1)
    table_id = DeltaTable.forPath(spark, silver).detail().first()["id"]
    assert gold_refresh.read_state(spark, paths.state) == SilverPosition(table_id, recorded + 1)


def test_in_dates_is_an_exact_sorted_date_list():
    assert in_dates("event_date", [day("2024-03-02"), day("2024-03-01"), day("2024-03-02")]) == (
        "event_date IN (DATE'2024-03-01', DATE'2024-03-02')"
    )
    with pytest.raises(ValueError):
        in_dates("event_date", [])


def test_full_rebuild_writes_without_auto_compaction_and_restores_the_session(spark, tmp_path, monkeypatch):
    silver = _make_silver(spark, tmp_path)
    paths = GoldPaths(silver, str(tmp_path / "gold"))
    _append(spark, silver, BATCH_1)
    seen: dict[str, str | None] = {}
    original = gold_refresh._overwrite

    def recording(spark_, mart, uri, *rest):
        seen[uri.rsplit("/", 1)[1]] = spark_.conf.get(gold_refresh.AUTO_COMPACT, None)
        original(spark_, mart, uri, *rest)

    monkeypatch.setattr(gold_refresh, "_overwrite", recording)
    spark.conf.set(gold_refresh.AUTO_COMPACT, "true")
    try:
        result = refresh_gold(spark, paths)
        assert spark.conf.get(gold_refresh.AUTO_COMPACT) == "true"
    finally:
        spark.conf.unset(gold_refresh.AUTO_COMPACT)
    assert seen == {name: "false" for name in MARTS}
    assert result.recomputed == {name: spark.read.format("delta").load(paths.mart(name)).count() for name in MARTS}
    for name in MARTS:
        properties = DeltaTable.forPath(spark, paths.mart(name)).detail().first()["properties"]
        assert properties["delta.autoOptimize.autoCompact"] == "true"


def test_a_failing_mart_fails_the_rebuild_and_writes_no_state(spark, tmp_path, monkeypatch):
    silver = _make_silver(spark, tmp_path)
    paths = GoldPaths(silver, str(tmp_path / "gold"))
    _append(spark, silver, BATCH_1)
    original = gold_refresh._overwrite

    def failing(spark_, mart, uri, *rest):
        if uri.endswith("dim_products"):
            raise RuntimeError("simulated failure writing dim_products")
        original(spark_, mart, uri, *rest)

    monkeypatch.setattr(gold_refresh, "_overwrite", failing)
    with pytest.raises(RuntimeError, match="dim_products"):
        refresh_gold(spark, paths)
    assert gold_refresh.read_state(spark, paths.state) is None
    assert spark.conf.get(gold_refresh.AUTO_COMPACT, None) is None
