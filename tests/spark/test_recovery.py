"""Recovery: re-driving quarantine after a rule is relaxed, and replaying silver and gold from bronze."""

from __future__ import annotations

import pytest

import spark.redrive as redrive
import spark.silver as silver_module
import spark.silver_batch as silver_batch
import spark.validation as validation
from config.catalog import MARTS
from spark.gold_refresh import GoldPaths, refresh_gold
from spark.redrive import redrive_quarantine
from spark.replay import ReplayTarget, replay_silver
from spark.silver_batch import SilverBatchWriter
from spark.silver_tables import ensure_silver_tables
from tests.contract_events import event, event_id
from tests.spark.silver_inputs import bronze_frame

FUTURE = "2030-01-01T00:00:00.000Z"
VOLATILE = {"quarantined_at", "processed_at"}
LINEAGE = {"silver": {"silver_batch_id", "silver_app_id"}, "quarantine": {"batch_id", "app_id", "quarantined_at"}}


def relaxed_validate_batches(schema):
    """The silver validator as if a fix made future timestamps valid (patched inside the Python worker)."""
    strict = validation.validate_batches(schema)

    def run(batches):
        import spark.validation as worker_validation

        original = worker_validation.check_payload

        def check(raw, *, now):
            document, violations = original(raw, now=now)
            return document, [v for v in violations if v.reason != "future_timestamp"]

        worker_validation.check_payload = check
        try:
            yield from strict(batches)
        finally:
            worker_validation.check_payload = original

    return run


def table_paths(spark, root):
    paths = {name: str(root / name) for name in ("silver", "quarantine", "metrics")}
    ensure_silver_tables(spark, **paths)
    return paths


def rows(spark, path, drop=()):
    df = spark.read.format("delta").load(path)
    return sorted(map(repr, df.drop(*(set(drop) & set(df.columns))).collect()))


def snapshot(spark, tables):
    return {name: rows(spark, path, VOLATILE) for name, path in tables.items()}


def quarantined_batch(spark):
    """id 1 valid; ids 2 (twice), 3 and 1 again with a future event_ts; id 4 future and out of range; bad JSON."""
    return bronze_frame(
        spark,
        [
            event(1),
            event(2, event_ts=FUTURE),
            event(2, event_ts=FUTURE, quantity=5),
            event(3, event_ts=FUTURE),
            event(1, event_ts=FUTURE),
            event(4, event_ts=FUTURE, quantity=0),
            b"{oops",
        ],
    )


@pytest.fixture
def quarantined(spark, tmp_path):
    tables = table_paths(spark, tmp_path / "lake")
    SilverBatchWriter(**tables, app_id="app-1")(quarantined_batch(spark), 0)
    return tables


def test_redrive_after_a_fix_moves_exactly_the_now_valid_records_once(spark, quarantined, monkeypatch):
    before = {r.kafka_offset: r.reason for r in spark.read.format("delta").load(quarantined["quarantine"]).collect()}
    assert before == {
        1: "future_timestamp",
        2: "future_timestamp",
        3: "future_timestamp",
        4: "future_timestamp",
        5: "out_of_range",
        6: "invalid_json",
    }
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)

    result = redrive_quarantine(spark, **quarantined)

    assert (result.rows_in, result.inserted, result.quarantined, result.duplicates) == (6, 2, 2, 2)
    silver = spark.read.format("delta").load(quarantined["silver"])
    assert sorted((r.event_id, r.kafka_offset, r.quantity) for r in silver.collect()) == [
        (event_id(1), 0, 2),
        (event_id(2), 1, 2),
        (event_id(3), 3, 2),
    ]
    assert {r.silver_app_id for r in silver.where("kafka_offset > 0").collect()} == {result.redrive_id}
    quarantine = spark.read.format("delta").load(quarantined["quarantine"]).orderBy("kafka_offset").collect()
    assert [(q.kafka_offset, q.app_id) for q in quarantine] == [(5, result.redrive_id), (6, result.redrive_id)]
    assert [([r.reason for r in q.reasons], q.reason) for q in quarantine] == [
        (["out_of_range"], "out_of_range"),
        (["invalid_json"], "invalid_json"),
    ]
    metrics = spark.read.format("delta").load(quarantined["metrics"]).orderBy("stream").collect()
    assert [(m.stream, m.rows_in, m.inserted, m.quarantined, m.duplicates) for m in metrics] == [
        ("redrive", 6, 2, 2, 2),
        ("silver", 7, 1, 6, 0),
    ]
    bronze_rows = sum(m.rows_in for m in metrics if m.stream == "silver")
    assert bronze_rows == silver.count() + len(quarantine) + sum(m.duplicates for m in metrics)

    settled = snapshot(spark, quarantined)
    again = redrive_quarantine(spark, **quarantined)
    assert (again.written, again.rows_in, again.inserted, again.quarantined) == (False, 2, 0, 2)
    assert snapshot(spark, quarantined) == settled


def crashed_redrive(spark, tables, monkeypatch):
    """A re-drive killed after its silver and metrics appends, before its quarantine MERGE."""

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the quarantine MERGE")

    monkeypatch.setattr(redrive, "_rewrite_quarantine", crash)
    with pytest.raises(RuntimeError, match="killed"):
        redrive_quarantine(spark, **tables)
    monkeypatch.undo()


def test_a_redrive_that_crashed_before_its_quarantine_rewrite_reruns_as_the_same_redrive(
    spark, quarantined, tmp_path, monkeypatch
):
    clean = table_paths(spark, tmp_path / "clean")
    SilverBatchWriter(**clean, app_id="app-1")(quarantined_batch(spark), 0)
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    redrive_quarantine(spark, **clean)

    crashed_redrive(spark, quarantined, monkeypatch)
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    redrive_quarantine(spark, **quarantined)

    assert snapshot(spark, quarantined) == snapshot(spark, clean)


def test_a_redrive_that_crashed_is_finished_before_the_next_even_after_quarantine_changed(
    spark, quarantined, tmp_path, monkeypatch
):
    """Issue 18, 7(b): the re-run used to get a new id and count the crashed re-drive's moved rows again."""
    later = bronze_frame(spark, [event(7, event_ts=FUTURE)], partition=3)
    clean = table_paths(spark, tmp_path / "clean")
    SilverBatchWriter(**clean, app_id="app-1")(quarantined_batch(spark), 0)
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    redrive_quarantine(spark, **clean)
    monkeypatch.undo()
    SilverBatchWriter(**clean, app_id="app-1")(later, 1)
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    redrive_quarantine(spark, **clean)

    crashed_redrive(spark, quarantined, monkeypatch)
    SilverBatchWriter(**quarantined, app_id="app-1")(later, 1)
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    redrive_quarantine(spark, **quarantined)

    assert snapshot(spark, quarantined) == snapshot(spark, clean)
    metrics = spark.read.format("delta").load(quarantined["metrics"]).where("stream = 'redrive'").collect()
    moved = sum(m.inserted + m.duplicates for m in metrics)
    assert moved == 6 - 2 + 1


def test_of_two_writers_inserting_one_event_id_the_later_commit_yields(spark, tmp_path, monkeypatch):
    """Issue 18, 7(a): both checked "already in silver?" before either appended; Delta never conflicts two appends."""
    tables = table_paths(spark, tmp_path / "lake")
    stream = SilverBatchWriter(**tables, app_id="stream")
    other = SilverBatchWriter(**tables, app_id="redrive-like")
    real_append = silver_batch.idempotent_append

    def other_commits_first(df, path, app_id, batch_id, *rest):
        if app_id == "stream" and path == tables["silver"]:
            other(bronze_frame(spark, [event(1, quantity=7)], partition=5), 0)
        real_append(df, path, app_id, batch_id, *rest)

    monkeypatch.setattr(silver_batch, "idempotent_append", other_commits_first)
    stream(bronze_frame(spark, [event(1), event(2)], partition=0), 0)
    monkeypatch.undo()

    silver = spark.read.format("delta").load(tables["silver"]).collect()
    assert sorted((r.event_id, r.silver_app_id, r.quantity) for r in silver) == [
        (event_id(1), "redrive-like", 7),
        (event_id(2), "stream", 2),
    ]
    ledgers = spark.read.format("delta").load(tables["metrics"]).orderBy("app_id").collect()
    assert [(m.app_id, m.rows_in, m.inserted, m.duplicates) for m in ledgers] == [
        ("redrive-like", 1, 1, 0),
        ("stream", 2, 1, 1),
    ]
    stream(bronze_frame(spark, [event(1), event(2)], partition=0), 0)
    assert spark.read.format("delta").load(tables["silver"]).count() == 2


def test_a_reason_filter_leaves_other_reasons_alone(spark, quarantined, monkeypatch):
    monkeypatch.setattr(silver_module, "validate_batches", relaxed_validate_batches)
    before = snapshot(spark, quarantined)
    result = redrive_quarantine(spark, **quarantined, reason="invalid_json")
    assert (result.written, result.rows_in, result.quarantined) == (False, 1, 1)
    assert snapshot(spark, quarantined) == before
    with pytest.raises(ValueError, match="unknown quarantine reason 'typo'"):
        redrive_quarantine(spark, **quarantined, reason="typo")


def bronze_batches(spark):
    """Two bronze micro-batches: new ids, a within-batch and a cross-batch duplicate, one bad value."""
    zero = bronze_frame(spark, [event(1), event(2), event(2, quantity=9), b"{oops"], first_offset=0)
    one = bronze_frame(
        spark, [event(1), event(3), event(4, user_id="u_2", session_id="s_2")], partition=1, first_offset=0
    )
    return zero, one


def test_replay_from_bronze_rebuilds_silver_and_gold_and_always_gets_a_new_app_id(spark, tmp_path):
    bronze = str(tmp_path / "lake" / "bronze" / "events")
    original = table_paths(spark, tmp_path / "lake" / "silver")
    for batch_id, batch in enumerate(bronze_batches(spark)):
        batch.write.format("delta").mode("append").save(bronze)
        SilverBatchWriter(**original, app_id="app-live")(batch, batch_id)
    original_gold = GoldPaths(silver=original["silver"], gold_dir=str(tmp_path / "lake" / "gold"))
    refresh_gold(spark, original_gold, full_refresh=True)

    root = tmp_path / "replayed"
    target = ReplayTarget(str(root), str(root / "_checkpoints" / "silver"), str(root / "_archive" / "first"))
    first = replay_silver(spark, bronze, target, max_files_per_trigger=1000)

    for name in ("silver", "quarantine"):
        assert rows(spark, first.tables[name], LINEAGE[name]) == rows(spark, original[name], LINEAGE[name])
    assert ledger_totals(spark, first.tables["metrics"]) == ledger_totals(spark, original["metrics"]) == (7, 4, 1, 2)
    replayed_gold = GoldPaths(silver=first.tables["silver"], gold_dir=str(root / "gold"))
    refresh_gold(spark, replayed_gold, full_refresh=True)
    for mart in MARTS:
        assert rows(spark, replayed_gold.mart(mart)) == rows(spark, original_gold.mart(mart)), mart

    again = replay_silver(
        spark,
        bronze,
        ReplayTarget(target.lake, target.checkpoint, str(root / "_archive" / "2")),
        max_files_per_trigger=1000,
    )
    assert again.app_id != first.app_id
    assert set(again.archived) == {*first.tables.values(), target.checkpoint}
    assert ledger_totals(spark, again.tables["metrics"]) == (7, 4, 1, 2)
    assert rows(spark, again.tables["silver"], LINEAGE["silver"]) == rows(spark, original["silver"], LINEAGE["silver"])


def ledger_totals(spark, metrics):
    found = spark.read.format("delta").load(metrics).collect()
    return tuple(sum(getattr(m, k) for m in found) for k in ("rows_in", "inserted", "quarantined", "duplicates"))


@pytest.mark.parametrize("version", ["3", None, -1, True, 2.0])
def test_a_redrive_tag_without_a_delta_version_is_an_error_naming_the_commit(version):
    writes = [(9, {"app_id": "redrive-b", "quarantine_version": version}), (4, {"app_id": "silver-a"})]
    with pytest.raises(RuntimeError, match=r"commit 9 is tagged as re-drive redrive-b .* not a Delta version"):
        redrive.pending_redrives(writes, set(), "/lake/silver")


def test_pending_redrives_are_the_unfinished_ones_oldest_first():
    writes = [
        (9, {"app_id": "r3", "quarantine_version": 7, "reason": "future_timestamp"}),
        (6, {"app_id": "r2", "quarantine_version": 5}),
        (5, {"app_id": "silver-a"}),
        (2, {"app_id": "r1", "quarantine_version": 0}),
    ]
    pending = redrive.pending_redrives(writes, {"r2"}, "/lake/silver")
    assert pending == [
        redrive.PendingRedrive("r1", 0, None),
        redrive.PendingRedrive("r3", 7, "future_timestamp"),
    ]
