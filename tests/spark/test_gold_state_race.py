"""A zombie gold run, overtaken by its retry, leaves no stale mart row and never moves the state back.

Each test plays one interleaving deterministically: run A plans, a newer run B is started from inside A (at the
point named in the test) and runs to completion, then A goes on."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

import spark.gold_refresh as gold_refresh
from config.catalog import MARTS
from spark.gold_incremental import GoldPlan, GoldStateError
from spark.gold_refresh import GoldPaths, refresh_gold
from spark.gold_state import claim, read_gold_state, record
from tests.spark.gold_rows import assert_frames_equal, event
from tests.spark.test_gold_incremental import BATCH_1, LATE, _append, _make_silver

# Touches every key LATE touched (1 March, u2, p1, session s9), so a zombie holding LATE's plan has stale values.
LATER = [event("12", "2024-03-01 16:00:00", "u2", "s9", "purchase", "p1", "3.00", 1)]


@pytest.fixture(scope="module")
def built(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GoldPaths]:
    """A lake with gold built from BATCH_1 and LATE appended to silver (each test works on a copy), and gold as a
    full rebuild makes it from BATCH_1, LATE and LATER: what every interleaving must end with."""
    root = tmp_path_factory.mktemp("race_lake")
    silver = _make_silver(spark, root)
    _append(spark, silver, BATCH_1)
    refresh_gold(spark, GoldPaths(silver, str(root / "gold")))
    _append(spark, silver, LATE)
    other = tmp_path_factory.mktemp("race_expected")
    expected = GoldPaths(_make_silver(spark, other), str(other / "gold"))
    _append(spark, expected.silver, BATCH_1 + LATE + LATER)
    refresh_gold(spark, expected)
    return root, expected


@pytest.fixture
def lake(built: tuple[Path, GoldPaths], tmp_path: Path) -> GoldPaths:
    copy = tmp_path / "lake"
    shutil.copytree(built[0], copy)
    return GoldPaths(str(copy / "silver" / "events"), str(copy / "gold"))


@pytest.fixture
def expected(built: tuple[Path, GoldPaths]) -> GoldPaths:
    return built[1]


def _silver_version(spark: SparkSession, paths: GoldPaths) -> int:
    return DeltaTable.forPath(spark, paths.silver).history(1).first()["version"]


def _mart_versions(spark: SparkSession, paths: GoldPaths) -> dict[str, int]:
    return {name: DeltaTable.forPath(spark, paths.mart(name)).history(1).first()["version"] for name in MARTS}


class NewerRun:
    """Run B, started once from inside run A: silver gains LATER and B brings gold up to it (B's own calls of the
    patched function go straight through)."""

    def __init__(self, spark: SparkSession, paths: GoldPaths) -> None:
        self.spark, self.paths = spark, paths
        self.started = False
        self.recorded: int | None = None

    def once(self) -> None:
        if self.started:
            return
        self.started = True
        _append(self.spark, self.paths.silver, LATER)
        result = refresh_gold(self.spark, self.paths)
        assert result.plan.mode == "incremental"
        self.recorded = result.plan.end_version


def _assert_marts_equal(spark: SparkSession, paths: GoldPaths, expected: GoldPaths) -> None:
    for name in MARTS:
        actual = spark.read.format("delta").load(paths.mart(name))
        assert_frames_equal(actual, spark.read.format("delta").load(expected.mart(name)))


def test_zombie_writing_after_its_retry_finished_is_skipped_and_fails(spark, lake, expected, monkeypatch):
    planned = _silver_version(spark, lake)
    original, newer = gold_refresh._apply, NewerRun(spark, lake)

    def retry_finishes_first(*args):
        newer.once()
        return original(*args)

    monkeypatch.setattr(gold_refresh, "_apply", retry_finishes_first)
    with pytest.raises(GoldStateError) as caught:
        refresh_gold(spark, lake)
    message = str(caught.value)
    assert f"silver versions {planned}..{planned}" in message
    assert f"records silver version {newer.recorded}" in message
    assert gold_refresh.read_state(spark, lake.state).version == newer.recorded
    _assert_marts_equal(spark, lake, expected)


def test_zombie_that_wrote_first_is_rewritten_by_its_retry(spark, lake, expected, monkeypatch):
    original, newer = gold_refresh._merge_keys, NewerRun(spark, lake)

    def retry_after_the_first_merge(*args):
        original(*args)
        newer.once()

    monkeypatch.setattr(gold_refresh, "_merge_keys", retry_after_the_first_merge)
    with pytest.raises(GoldStateError, match="was overtaken"):
        refresh_gold(spark, lake)
    assert gold_refresh.read_state(spark, lake.state).version == newer.recorded
    _assert_marts_equal(spark, lake, expected)


def test_a_run_whose_state_moved_before_its_claim_writes_no_mart(spark, lake, monkeypatch):
    original, newer = gold_refresh.claim, NewerRun(spark, lake)
    before: dict[str, int] = {}

    def retry_finishes_before_the_claim(*args):
        if not newer.started:
            newer.once()
            before.update(_mart_versions(spark, lake))
        return original(*args)

    monkeypatch.setattr(gold_refresh, "claim", retry_finishes_before_the_claim)
    with pytest.raises(GoldStateError, match=r"claimed gold's state .* now ticket \d+ recording silver version (\d+)"):
        refresh_gold(spark, lake)
    assert _mart_versions(spark, lake) == before
    assert gold_refresh.read_state(spark, lake.state).version == newer.recorded


def test_two_claims_from_one_read_cannot_both_win(spark, lake):
    seen = read_gold_state(spark, lake.state)
    plan = GoldPlan("incremental", _silver_version(spark, lake), seen.position.version + 1)
    ticket = claim(spark, lake.state, seen, plan)
    with pytest.raises(GoldStateError, match=f"now ticket {ticket} recording silver version"):
        claim(spark, lake.state, seen, plan)
    assert read_gold_state(spark, lake.state).ticket == ticket


def test_concurrent_claims_from_one_read_have_one_winner(spark, lake):
    seen = read_gold_state(spark, lake.state)
    plan = GoldPlan("incremental", _silver_version(spark, lake), seen.position.version + 1)
    start = threading.Barrier(2)

    def race(_):
        start.wait()
        try:
            return claim(spark, lake.state, seen, plan)
        except Exception as exc:  # a GoldStateError, or Delta's concurrent-modification error at commit
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(race, range(2)))
    tickets = [o for o in outcomes if isinstance(o, int)]
    assert len(tickets) == 1, outcomes
    assert read_gold_state(spark, lake.state).ticket == tickets[0]


def test_the_recorded_silver_version_never_goes_back(spark, lake):
    seen = read_gold_state(spark, lake.state)
    table_id = seen.position.table_id
    behind = GoldPlan("incremental", seen.position.version - 1, seen.position.version - 1)
    ticket = claim(spark, lake.state, seen, behind)
    with pytest.raises(GoldStateError, match=f"records silver version {seen.position.version}"):
        record(spark, lake.state, behind, table_id, ticket)
    assert read_gold_state(spark, lake.state).position == seen.position


def test_a_recreated_state_still_gets_tickets_above_the_marts_and_rebuilds_them(spark, lake, expected):
    """A ticket below the one a mart recorded would have every write of the rebuild skipped."""
    _append(spark, lake.silver, LATER)
    DeltaTable.forPath(spark, lake.mart("dim_products")).delete("product_id = 'p1'")
    shutil.rmtree(lake.state)
    assert refresh_gold(spark, lake).plan.mode == "full"
    _assert_marts_equal(spark, lake, expected)
