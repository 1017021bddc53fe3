"""One silver micro-batch: exact dedup within and across batches, the ledger, and replays that change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
import pytest
from delta.tables import DeltaTable

import spark.silver_batch as silver_batch
from spark.idempotent_writes import stream_app_id
from spark.silver_batch import LedgerError, SilverBatchWriter
from spark.silver_tables import SILVER_PLAIN_COLUMNS, SILVER_STATS_COLUMNS, ensure_silver_tables
from tests.contract_events import event, event_id
from tests.spark.silver_inputs import bronze_frame

VOLATILE = {"quarantined_at", "processed_at"}


@pytest.fixture
def tables(spark, tmp_path):
    paths = {name: str(tmp_path / name) for name in ("silver", "quarantine", "metrics")}
    ensure_silver_tables(spark, **paths)
    return paths


def batches(spark):
    """Batch 0: two new ids, one within-batch duplicate, one bad value. Batch 1: an exact resend, a new id,
    and an old id resent with an event_ts on another day."""
    zero = bronze_frame(spark, [event(1), event(2), event(2, quantity=9), b"{oops"], first_offset=0)
    one = bronze_frame(
        spark, [event(1), event(3), event(2, event_ts="2025-05-20T08:00:00.000Z")], partition=1, first_offset=0
    )
    return zero, one


def snapshot(spark, tables):
    """Every table's rows minus wall-clock columns, as sorted tuples."""
    out = {}
    for name, path in tables.items():
        df = spark.read.format("delta").load(path)
        df = df.drop(*(VOLATILE & set(df.columns)))
        out[name] = sorted(map(repr, df.collect()))
    return out


def metrics_of(spark, tables):
    rows = spark.read.format("delta").load(tables["metrics"]).orderBy("batch_id").collect()
    return [(r.batch_id, r.rows_in, r.inserted, r.quarantined, r.duplicates) for r in rows]


def test_dedup_within_and_across_batches_and_replays_change_nothing(spark, tables):
    writer = SilverBatchWriter(**tables, app_id="app-1")
    zero, one = batches(spark)
    writer(zero, 0)
    writer(one, 1)
    silver = spark.read.format("delta").load(tables["silver"])
    assert sorted(r.event_id for r in silver.collect()) == [event_id(1), event_id(2), event_id(3)]
    kept = silver.where(f"event_id = '{event_id(2)}'").first()
    assert (kept.quantity, kept.kafka_offset, str(kept.event_date)) == (2, 1, "2025-06-01")
    assert metrics_of(spark, tables) == [(0, 4, 2, 1, 1), (1, 3, 1, 0, 2)]
    quarantine = spark.read.format("delta").load(tables["quarantine"]).collect()
    assert [(q.reason, q.kafka_offset, bytes(q.value)) for q in quarantine] == [("invalid_json", 3, b"{oops")]
    offsets = spark.read.format("delta").load(tables["metrics"]).orderBy("batch_id").first().offsets
    assert [(o.topic, o.partition, o.min_offset, o.max_offset) for o in offsets] == [("events", 0, 0, 3)]

    before = snapshot(spark, tables)
    writer(one, 1)
    writer(zero, 0)
    assert snapshot(spark, tables) == before


def test_too_many_ids_to_broadcast_shuffles_instead_with_the_same_result(spark, tables, tmp_path, monkeypatch):
    broadcast = SilverBatchWriter(**tables, app_id="app-1")
    for batch_id, frame in enumerate(batches(spark)):
        broadcast(frame, batch_id)
    shuffled_tables = {name: str(tmp_path / f"shuffled-{name}") for name in tables}
    ensure_silver_tables(spark, **shuffled_tables)
    monkeypatch.setattr(silver_batch, "BROADCAST_IDS_MAX", -1)
    shuffled = SilverBatchWriter(**shuffled_tables, app_id="app-1")
    for batch_id, frame in enumerate(batches(spark)):
        shuffled(frame, batch_id)
    assert snapshot(spark, shuffled_tables) == snapshot(spark, tables)
    assert metrics_of(spark, shuffled_tables) == [(0, 4, 2, 1, 1), (1, 3, 1, 0, 2)]


def test_crash_after_the_silver_write_then_replay_equals_an_uninterrupted_run(spark, tables, tmp_path, monkeypatch):
    clean = {name: str(tmp_path / "clean" / name) for name in tables}
    ensure_silver_tables(spark, **clean)
    zero, one = batches(spark)
    for batch_id, batch in enumerate((zero, one)):
        SilverBatchWriter(**clean, app_id="app-clean")(batch, batch_id)

    real = silver_batch.idempotent_append
    calls = []

    def crash_after_first_write(df, path, app_id, batch_id, *metadata):
        calls.append(path)
        if batch_id == 1 and len([c for c in calls if c == tables["silver"]]) == 2 and path != tables["silver"]:
            raise RuntimeError("killed between the silver and the quarantine write")
        real(df, path, app_id, batch_id, *metadata)

    writer = SilverBatchWriter(**tables, app_id="app-crashy")
    monkeypatch.setattr(silver_batch, "idempotent_append", crash_after_first_write)
    writer(zero, 0)
    with pytest.raises(RuntimeError, match="killed"):
        writer(one, 1)
    monkeypatch.setattr(silver_batch, "idempotent_append", real)
    writer(one, 1)

    def normalised(snap, app_id):
        return {name: sorted(r.replace(app_id, "APP") for r in rows) for name, rows in snap.items()}

    assert normalised(snapshot(spark, tables), "app-crashy") == normalised(snapshot(spark, clean), "app-clean")
    assert metrics_of(spark, tables) == [(0, 4, 2, 1, 1), (1, 3, 1, 0, 2)]


def test_a_broken_ledger_writes_nothing_and_names_the_batch(spark, tables, monkeypatch):
    real = silver_batch.validated_records
    monkeypatch.setattr(silver_batch, "validated_records", lambda bronze: real(bronze).limit(1))
    with pytest.raises(LedgerError, match="silver batch 7"):
        SilverBatchWriter(**tables, app_id="app-1")(bronze_frame(spark, [event(1), event(2)]), 7)
    assert all(spark.read.format("delta").load(p).count() == 0 for p in tables.values())


def test_silver_table_has_change_data_feed_and_contract_constraints(spark, tables):
    detail = DeltaTable.forPath(spark, tables["silver"]).detail().first()
    assert detail["partitionColumns"] == ["event_date"]
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    assert "delta.constraints.contract_price_gbp" in detail["properties"]
    ensure_silver_tables(spark, **tables)
    schema = spark.read.format("delta").load(tables["silver"]).schema
    assert not schema["event_id"].nullable and not schema["kafka_offset"].nullable


def test_silver_files_keep_statistics_only_for_the_stats_columns(spark, tables):
    SilverBatchWriter(**tables, app_id="app-1")(bronze_frame(spark, [event(1), event(2)]), 0)
    log = Path(tables["silver"]) / "_delta_log"
    adds = [
        json.loads(line)["add"]
        for commit in sorted(log.glob("*.json"))
        for line in commit.read_text().splitlines()
        if '"add"' in line
    ]
    assert adds
    for add in adds:
        stats = json.loads(add["stats"])
        assert set(stats["minValues"]) == set(SILVER_STATS_COLUMNS)
        assert stats["minValues"]["silver_app_id"] == "app-1"


def dictionary_pages(spark, table: str, columns: list[str]) -> dict[str, set[bool]]:
    """Per column, whether its chunks have a dictionary page, over every Parquet file of the current snapshot."""
    found: dict[str, set[bool]] = {name: set() for name in columns}
    for uri in spark.read.format("delta").load(table).inputFiles():
        metadata = pq.ParquetFile(unquote(urlparse(uri).path)).metadata
        for group in range(metadata.num_row_groups):
            for index in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(index)
                if chunk.path_in_schema in found:
                    found[chunk.path_in_schema].add(chunk.has_dictionary_page)
    return found


def test_distinct_valued_columns_are_written_without_a_dictionary_by_appends_and_optimize(spark, tables):
    """Even repeated values (every test event has user u_1 and session s_1) stay plain in those columns, while
    event_type keeps its dictionary."""
    writer = SilverBatchWriter(**tables, app_id="app-1")
    writer(bronze_frame(spark, [event(n) for n in range(1, 30)]), 0)
    writer(bronze_frame(spark, [event(n) for n in range(30, 60)], first_offset=100), 1)
    columns = [*SILVER_PLAIN_COLUMNS, "event_type"]
    expected = {**{name: {False} for name in SILVER_PLAIN_COLUMNS}, "event_type": {True}}
    assert dictionary_pages(spark, tables["silver"], columns) == expected
    spark.sql(f"OPTIMIZE delta.`{tables['silver']}`")
    assert len(spark.read.format("delta").load(tables["silver"]).inputFiles()) == 1
    assert dictionary_pages(spark, tables["silver"], columns) == expected


def test_app_id_lives_and_dies_with_the_checkpoint(spark, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    fresh = stream_app_id(spark, str(checkpoint))
    assert stream_app_id(spark, str(checkpoint)) != fresh
    (checkpoint / "metadata").write_text('{"id":"x"}')
    started = stream_app_id(spark, str(checkpoint))
    assert stream_app_id(spark, str(checkpoint)) == started
    (checkpoint / "metadata").unlink()
    assert stream_app_id(spark, str(checkpoint)) != started


def test_a_started_checkpoint_without_its_app_id_is_refused(spark, tmp_path):
    """A new id would make Delta's txnAppId check pass for the in-flight batch: its rows written twice."""
    checkpoint = tmp_path / "checkpoint"
    stream_app_id(spark, str(checkpoint))
    (checkpoint / "metadata").write_text('{"id":"x"}')
    (checkpoint / ".lakehouse_app_id.crc").unlink(missing_ok=True)
    (checkpoint / "lakehouse_app_id").unlink()
    with pytest.raises(ValueError, match="lakehouse_app_id is missing from a checkpoint that has started"):
        stream_app_id(spark, str(checkpoint))


def test_a_damaged_app_id_is_refused_naming_the_file(spark, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    stream_app_id(spark, str(checkpoint))
    (checkpoint / "metadata").write_text('{"id":"x"}')
    (checkpoint / ".lakehouse_app_id.crc").unlink(missing_ok=True)  # Hadoop's checksum of the good file
    (checkpoint / "lakehouse_app_id").write_text("not-a-uuid")
    with pytest.raises(ValueError, match="lakehouse_app_id holds 'not-a-uuid'.*checkpoint is damaged"):
        stream_app_id(spark, str(checkpoint))
