"""Quality-check comparisons say which check failed and by how much; failure alerts never raise."""

from __future__ import annotations

import json
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from config.catalog import MARTS
from config.reconciliation import GoldMart, batch_balances, days_agree, failures, marts_agree, serving_matches_gold
from config.settings import StorageSettings


def test_rows_vs_gold_reports_each_difference() -> None:

    audited = {t: ("id-1", 4) for t in MARTS if t != "fct_sessions"}
    gold = {t: GoldMart("id-1", 4, 10, 0) for t in MARTS}
    gold["dim_users"] = GoldMart("id-1", 5, 10, 3)
    serving = {t: 10 for t in MARTS}
    serving["dim_products"] = 8
    found = [str(m) for m in failures(serving_matches_gold(audited, gold, serving))]
    assert found == [
        "gold dim_users rows changed after v4, the version published to serving (gold is at v5): expected 0, got 3 "
        "(off by +3)",
        "serving.dim_products rows vs gold v4: expected 10, got 8 (off by -2)",
        "pipeline.load_audit has no successful load of serving.fct_sessions: expected a row, got none",
    ]


def test_rows_vs_gold_passes_when_equal_and_when_gold_moved_without_data() -> None:

    serving = {t: 7 for t in MARTS}
    audited = {t: ("i", 2) for t in MARTS}
    assert failures(serving_matches_gold(audited, {t: GoldMart("i", 2, 7, 0) for t in MARTS}, serving)) == []
    assert failures(serving_matches_gold(audited, {t: GoldMart("i", 4, 7, 0) for t in MARTS}, serving)) == []


def test_revenue_mismatch_fails_with_the_amount() -> None:
    from lakehouse_dags.checks import QualityCheckError, raise_if_any

    sums = {
        "fct_purchases_daily": (Decimal("100.50"), 3),
        "dim_products": (Decimal("100.50"), 3),
        "dim_users": (Decimal("100.00"), 3),
        "fct_sessions": (Decimal("100.50"), 3),
    }
    found = marts_agree(sums, Decimal("100.50"), 3)
    with pytest.raises(QualityCheckError) as caught:
        raise_if_any("revenue_reconciles", found, "")
    assert str(caught.value) == (
        "quality check revenue_reconciles failed, 1 difference(s): revenue_gbp: serving.dim_users vs "
        "serving.fct_purchases_daily: expected 100.50, got 100.00 (off by -0.50)"
    )


def test_days_vs_silver_lists_missing_and_different_days() -> None:
    d1, d2 = date(2025, 6, 1), date(2025, 6, 2)
    silver = {d1: (2, 3, Decimal("30.00")), d2: (1, 1, Decimal("5.00"))}
    serving = {d1: (2, 3, Decimal("29.99"))}
    assert [str(m) for m in failures(days_agree(silver, serving))] == [
        "2025-06-01 revenue_gbp (silver vs serving.fct_purchases_daily): expected 30.00, got 29.99 (off by -0.01)",
        "2025-06-02 purchases (silver vs serving.fct_purchases_daily): expected 1, got 0 (off by -1)",
        "2025-06-02 units (silver vs serving.fct_purchases_daily): expected 1, got 0 (off by -1)",
        "2025-06-02 revenue_gbp (silver vs serving.fct_purchases_daily): expected 5.00, got 0 (off by -5.00)",
    ]


def test_ledger_flags_unbalanced_batches() -> None:
    batches = [
        {"stream": "silver", "batch_id": 0, "rows_in": 10, "inserted": 7, "quarantined": 2, "duplicates": 1},
        {"stream": "silver", "batch_id": 1, "rows_in": 10, "inserted": 7, "quarantined": 2, "duplicates": 0},
    ]
    assert [str(m) for m in failures(batch_balances(batches))] == [
        "silver metrics silver batch 1 rows_in vs inserted+quarantined+duplicates: expected 10, got 9 (off by -1)"
    ]


def test_silver_daily_purchases_is_exact() -> None:
    import pyarrow as pa

    from lakehouse_dags.checks import silver_daily_purchases

    d1 = date(2025, 6, 1)
    table = pa.table(
        {
            "event_date": pa.array([d1, d1, d1], pa.date32()),
            "event_type": ["purchase", "purchase", "page_view"],
            "price_gbp": pa.array([Decimal("0.10"), Decimal("0.20"), None], pa.decimal128(10, 2)),
            "quantity": pa.array([3, 1, None], pa.int32()),
        }
    )
    silver = SimpleNamespace(to_pyarrow_table=lambda columns: table.select(columns))
    assert silver_daily_purchases(silver) == {d1: (2, 4, Decimal("0.50"))}


def _context():
    ti = SimpleNamespace(dag_id="lakehouse_pipeline", task_id="gold", run_id="manual__2025", try_number=3)
    return {"ti": ti, "exception": RuntimeError("gold failed:\n  silver missing")}


@pytest.fixture
def callbacks():
    """The alerts module, imported during setup: importing Airflow replaces the root log handlers, caplog's with
    them, and caplog installs its handler again for the test's call."""
    from lakehouse_dags import callbacks

    return callbacks


def test_alert_line_names_dag_task_run_try_and_exception(callbacks, caplog) -> None:
    with caplog.at_level("ERROR", logger="lakehouse.alerts"):
        callbacks.TaskFailureAlert()(_context())
    assert caplog.messages == [
        "LAKEHOUSE TASK FAILED dag=lakehouse_pipeline task=gold run_id=manual__2025 try=3 "
        "error=RuntimeError: gold failed: silver missing"
    ]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_receives_the_alert_and_failures_never_raise(callbacks, monkeypatch, caplog) -> None:
    """Called as Airflow calls an on_failure_callback: the notifier with the task's context."""
    alert = callbacks.TaskFailureAlert(alert_conn_id="alerts")
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        monkeypatch.setattr(callbacks, "webhook_url", lambda conn_id: url)
        alert(_context())
        assert _Hook.received and _Hook.received[-1]["text"].startswith("LAKEHOUSE TASK FAILED dag=lakehouse_pipeline")

        monkeypatch.setattr(callbacks, "webhook_url", lambda conn_id: "http://127.0.0.1:9/closed")
        with caplog.at_level("ERROR", logger="lakehouse.alerts"):
            alert(_context())
        assert any(m.startswith("alert webhook alerts not posted:") for m in caplog.messages)
    finally:
        server.shutdown()


class _ServingHook:
    """What check_rows_match_gold asks PostgreSQL: the latest audited loads and each serving table's row count."""

    def __init__(self, audited: dict[str, tuple[str, int]], rows: int) -> None:
        self.audited, self.rows = audited, rows

    def get_records(self, sql: str) -> list[tuple]:
        return [(table, table_id, version) for table, (table_id, version) in self.audited.items()]

    def get_first(self, sql: str) -> tuple:
        return (self.rows,)


def _gold_marts(root) -> dict[str, str]:
    """Each mart as a two-file delta-rs table with its key column and the change data feed on, as gold has."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from config.catalog import MART_TABLES

    values = {"event_date": [date(2025, 6, 1), date(2025, 6, 2)]}
    uris = {}
    for mart in MART_TABLES:
        table, (key,) = mart.name, mart.key
        uris[table] = str(root / "gold" / table)
        for value in values.get(key, ["a", "b"]):
            write_deltalake(
                uris[table],
                pa.table({key: [value], "n": [1]}),
                mode="append",
                configuration={"delta.enableChangeDataFeed": "true"},
            )
    return uris


def test_rows_match_gold_passes_after_an_optimize_and_fails_on_unpublished_data(tmp_path, monkeypatch) -> None:
    """OPTIMIZE (maintenance, or anyone) committing to gold between the load and the checks changes no data."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from lakehouse_dags import checks

    uris = _gold_marts(tmp_path)
    audited = {t: (DeltaTable(uri).metadata().id, DeltaTable(uri).version()) for t, uri in uris.items()}
    settings = SimpleNamespace(storage=StorageSettings(lake_uri=str(tmp_path), checkpoint_uri=str(tmp_path / "_cp")))
    monkeypatch.setattr(checks, "_settings", lambda: settings)
    monkeypatch.setattr(checks, "_hook", lambda conn_id: _ServingHook(audited, 2))

    for uri in uris.values():
        DeltaTable(uri).optimize.compact()
    assert DeltaTable(uris["dim_users"]).version() == audited["dim_users"][1] + 1
    assert checks.check_rows_match_gold("pg") == str({t: 2 for t in MARTS})

    write_deltalake(uris["dim_users"], pa.table({"user_id": ["c"], "n": [1]}), mode="append")
    with pytest.raises(checks.QualityCheckError) as caught:
        checks.check_rows_match_gold("pg")
    assert str(caught.value) == (
        "quality check rows_match_gold failed, 1 difference(s): gold dim_users rows changed after v1, the version "
        "published to serving (gold is at v3): expected 0, got 1 (off by +1)"
    )


def _deadline_context() -> dict:
    """What Airflow's Deadline.handle_miss passes: the run as its REST API shape, and the deadline."""
    return {
        "dag_run": {
            "dag_id": "lakehouse_streaming",
            "dag_run_id": "asset_triggered__2025-06-01T00:00:00",
            "state": "running",
            "queued_at": "2025-06-01T00:00:01Z",
        },
        "deadline": {"id": "d-1", "deadline_time": "2025-06-01T01:00:01Z"},
    }


def _in_triggerer(alert_conn_id: str | None) -> dict:
    """Run the deadline alert as the triggerer does: CallbackTrigger imports the callback's path and awaits it with
    the DeadlineAlert's kwargs and the run's context; its last event says whether the callback succeeded."""
    import asyncio

    from airflow.sdk import AsyncCallback
    from airflow.triggers.callback import CallbackTrigger

    from lakehouse_dags.callbacks import DeadlineMissedAlert

    path = AsyncCallback(DeadlineMissedAlert).path
    trigger = CallbackTrigger(path, {"alert_conn_id": alert_conn_id, "context": _deadline_context()})

    async def events() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())[-1]


def test_deadline_alert_logs_one_line_and_posts_it(monkeypatch) -> None:
    from airflow.sdk import BaseHook

    from lakehouse_dags import callbacks

    logged: list[str] = []
    monkeypatch.setattr(callbacks, "log", SimpleNamespace(error=lambda message, *args: logged.append(message % args)))
    line = (
        "LAKEHOUSE DEADLINE MISSED dag=lakehouse_streaming run_id=asset_triggered__2025-06-01T00:00:00 "
        "state=running queued_at=2025-06-01T00:00:01Z deadline=2025-06-01T01:00:01Z"
    )
    assert _in_triggerer(None)["state"] == "success"
    assert logged == [line]

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hosts = {"alerts": f"http://127.0.0.1:{server.server_port}/hook", "bad": "hooks.example.com/no-scheme"}

    async def connection(conn_id):
        return SimpleNamespace(host=hosts[conn_id])

    monkeypatch.setattr(BaseHook, "aget_connection", connection)
    try:
        assert _in_triggerer("alerts")["state"] == "success"
        assert _Hook.received[-1] == {"text": line}
        assert _in_triggerer("bad")["state"] == "success"
        assert logged[-1].startswith(
            "alert webhook bad not posted: Airflow connection bad (airflow.alert_conn_id) must have the full webhook"
        )
    finally:
        server.shutdown()


def test_deadline_callback_is_awaitable_as_airflow_requires() -> None:
    from airflow.sdk import AsyncCallback

    from lakehouse_dags.callbacks import DeadlineMissedAlert

    assert AsyncCallback(DeadlineMissedAlert).path == "lakehouse_dags.callbacks.DeadlineMissedAlert"


def test_a_data_mismatch_fails_at_once_and_other_errors_retry() -> None:
    import psycopg2
    from airflow.sdk.exceptions import AirflowFailException

    from lakehouse_dags.checks import QualityCheckError, fail_fast

    def mismatch(conn_id: str) -> str:
        raise QualityCheckError("quality check revenue_reconciles failed, 1 difference(s): x")

    def refused(conn_id: str) -> str:
        raise psycopg2.OperationalError('connection to server at "127.0.0.1", port 5433 failed: Connection refused')

    def slow(conn_id: str) -> str:
        raise TimeoutError("timed out")

    with pytest.raises(AirflowFailException) as caught:
        fail_fast(mismatch)(conn_id="pg")
    assert str(caught.value) == (
        "quality check revenue_reconciles failed, 1 difference(s): x (a data mismatch: not retried)"
    )
    assert isinstance(caught.value.__cause__, QualityCheckError)
    with pytest.raises(psycopg2.OperationalError):
        fail_fast(refused)(conn_id="pg")
    with pytest.raises(TimeoutError):
        fail_fast(slow)(conn_id="pg")
    assert fail_fast(lambda conn_id: "passed")(conn_id="pg") == "passed"


class _NullHook:
    """The SQL a null-key check sends, answered with `nulls` nulls, or the error a dead server gives."""

    def __init__(self, nulls: int | None) -> None:
        self.nulls = nulls

    def get_records(self, sql: str) -> list[tuple]:
        import psycopg2

        if self.nulls is None:
            raise psycopg2.OperationalError("Connection refused")
        return [("user_id", "null_check", self.nulls)]


def test_every_quality_task_fails_at_once_on_data_and_retries_on_infrastructure(write_config, monkeypatch) -> None:
    import psycopg2
    from airflow.sdk.exceptions import AirflowFailException

    from config.settings import load_settings
    from lakehouse_dags import checks

    tasks = {t.task_id: t for t in checks.quality_tasks(load_settings(write_config("local")))}
    wrapped = {
        task_id: task.python_callable.__wrapped__ for task_id, task in tasks.items() if hasattr(task, "python_callable")
    }
    assert wrapped == {
        "rows_match_gold": checks.check_rows_match_gold,
        "revenue_reconciles": checks.check_revenue_reconciles,
        "silver_reconciles": checks.check_silver_reconciles,
    }
    column_check = tasks["keys_not_null_dim_users"]
    monkeypatch.setattr(type(column_check), "get_db_hook", lambda self: _NullHook(3))
    with pytest.raises(AirflowFailException, match="null_check"):
        column_check.execute({})
    monkeypatch.setattr(type(column_check), "get_db_hook", lambda self: _NullHook(None))
    with pytest.raises(psycopg2.OperationalError):
        column_check.execute({})
    monkeypatch.setattr(type(column_check), "get_db_hook", lambda self: _NullHook(0))
    column_check.execute({})
