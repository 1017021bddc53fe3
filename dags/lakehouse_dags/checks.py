"""Quality checks after the load: serving equals gold per the load audit, sums agree, silver's days agree."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from config.catalog import GOLD_STATE, MART_TABLES, MARTS, SILVER_EVENTS, SILVER_METRICS, mart
from config.reconciliation import (
    REFERENCE,
    Comparison,
    GoldMart,
    batch_balances,
    days_agree,
    failures,
    marts_agree,
    serving_matches_gold,
)
from config.settings import Settings, load_settings
from lakehouse_dags.defaults import airflow_settings, config_path, project_dir, timeout

log = logging.getLogger(__name__)
LATEST_LOADS = """
    select distinct on (table_name) table_name, delta_table_id, delta_version
    from pipeline.load_audit where status = 'succeeded' order by table_name, load_id desc
"""
SUMS = " union all ".join(
    f"select '{m.name}', coalesce(sum(revenue_gbp), 0), coalesce(sum(purchases), 0) from {m.serving}"
    for m in MART_TABLES
    if m.measures
)
DAILY = f"select event_date, purchases, units, revenue_gbp from {REFERENCE.serving}"


class QualityCheckError(AssertionError):
    """A quality check found serving, gold and silver disagreeing; the message lists each difference."""


def fail_fast(check: Callable[..., str]) -> Callable[..., str]:
    """A data mismatch fails the task at once (AirflowFailException, no retry: a retry reads the same data); any
    other error, such as a refused connection or a timeout, propagates unchanged and is retried."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return check(*args, **kwargs)
        except QualityCheckError as exc:
            raise AirflowFailException(f"{exc} (a data mismatch: not retried)") from exc

    return run


def raise_if_any(check: str, comparisons: Iterable[Comparison], passed: str) -> str:
    """Fail the task naming the check and every difference; return the pass line otherwise."""
    mismatches = failures(comparisons)
    if mismatches:
        listed = "; ".join(map(str, mismatches[:20]))
        more = f"; and {len(mismatches) - 20} more" if len(mismatches) > 20 else ""
        raise QualityCheckError(f"quality check {check} failed, {len(mismatches)} difference(s): {listed}{more}")
    log.info("quality check %s passed: %s", check, passed)
    return passed


def changes_after(table: Any, version: int, columns: Sequence[str]) -> int:
    """Change-feed rows of a gold mart after `version`: none for commits that change no data (OPTIMIZE, VACUUM,
    properties), so maintenance between the load and the checks is not mistaken for unpublished data."""
    current = table.version()
    if current <= version:
        return 0
    feed = table.load_cdf(starting_version=version + 1, ending_version=current, columns=list(columns))
    return feed.read_all().num_rows


def _hook(conn_id: str) -> Any:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id)


def _delta(uri: str, version: int | None = None) -> Any:
    from deltalake import DeltaTable

    return DeltaTable(uri) if version is None else DeltaTable(uri, version=version)


def _settings() -> Settings:
    return load_settings(config_path())


@project_dir()
def check_rows_match_gold(conn_id: str) -> str:
    """Serving row counts equal gold's at the version the audit says was published, and gold's data is unchanged
    since that version."""
    settings = _settings()
    hook = _hook(conn_id)
    audited = {t: (tid, int(v)) for t, tid, v in hook.get_records(LATEST_LOADS)}
    serving_rows = {t: int(hook.get_first(f"select count(*) from {mart(t).serving}")[0]) for t in MARTS}
    gold = {}
    for table in MARTS:
        uri = settings.storage.uri_of(mart(table))
        current = _delta(uri)
        version = audited.get(table, (None, current.version()))[1]
        pinned = _delta(uri, version)
        rows = pinned.to_pyarrow_table(columns=list(mart(table).key)).num_rows
        changed = changes_after(current, version, mart(table).key)
        gold[table] = GoldMart(current.metadata().id, current.version(), rows, changed)
    return raise_if_any("rows_match_gold", serving_matches_gold(audited, gold, serving_rows), f"{serving_rows}")


@project_dir()
def check_revenue_reconciles(conn_id: str) -> str:
    """Revenue and purchases agree across the serving marts and with gold at the audited version."""
    import pyarrow.compute as pc

    settings = _settings()
    hook = _hook(conn_id)
    sums = {t: (Decimal(r), int(p)) for t, r, p in hook.get_records(SUMS)}
    audited = {t: int(v) for t, _, v in hook.get_records(LATEST_LOADS)}
    if REFERENCE.name not in audited:
        raise QualityCheckError(
            "quality check revenue_reconciles failed: pipeline.load_audit has no successful load of "
            f"{REFERENCE.serving}"
        )
    gold = _delta(settings.storage.uri_of(REFERENCE), audited[REFERENCE.name])
    daily = gold.to_pyarrow_table(columns=["revenue_gbp", "purchases"])
    gold_revenue = pc.sum(daily["revenue_gbp"]).as_py() or Decimal("0")
    gold_purchases = pc.sum(daily["purchases"]).as_py() or 0
    return raise_if_any(
        "revenue_reconciles",
        marts_agree(sums, gold_revenue, gold_purchases),
        f"revenue_gbp {sums[REFERENCE.name][0]}, purchases {sums[REFERENCE.name][1]}",
    )


def silver_daily_purchases(silver: Any) -> dict[Any, tuple[int, int, Decimal]]:
    """Purchases, units and exact revenue per event_date from silver's purchase events."""
    import pyarrow as pa
    import pyarrow.compute as pc

    events = silver.to_pyarrow_table(columns=["event_date", "event_type", "price_gbp", "quantity"])
    purchases = events.filter(pc.equal(events["event_type"], "purchase"))
    quantity = purchases["quantity"]
    revenue = pc.multiply(purchases["price_gbp"], pc.cast(quantity, pa.decimal128(10, 0)))
    table = pa.table({"event_date": purchases["event_date"], "quantity": quantity.cast(pa.int64()), "revenue": revenue})
    grouped = table.group_by("event_date").aggregate([("quantity", "count"), ("quantity", "sum"), ("revenue", "sum")])
    return {
        row["event_date"]: (row["quantity_count"], row["quantity_sum"], row["revenue_sum"])
        for row in grouped.to_pylist()
    }


@project_dir()
def check_silver_reconciles(conn_id: str) -> str:
    """Daily purchase totals equal silver's at the version gold last processed; silver's ledger balances."""
    settings = _settings()
    hook = _hook(conn_id)
    state = _delta(settings.storage.uri_of(GOLD_STATE)).to_pyarrow_table(columns=["silver_version"])
    if state.num_rows != 1:
        raise QualityCheckError(
            f"quality check silver_reconciles failed: gold's _state table has {state.num_rows} rows, not 1"
        )
    silver_version = state["silver_version"][0].as_py()
    if silver_version is None:
        raise QualityCheckError(
            "quality check silver_reconciles failed: gold's _state records no finished gold run (silver_version is "
            "null): run the gold task"
        )
    silver_days = silver_daily_purchases(_delta(settings.storage.uri_of(SILVER_EVENTS), silver_version))
    serving_days = {d: (int(p), int(u), Decimal(r)) for d, p, u, r in hook.get_records(DAILY)}
    metrics = _delta(settings.storage.uri_of(SILVER_METRICS)).to_pyarrow_table(
        columns=["stream", "batch_id", "rows_in", "inserted", "quarantined", "duplicates"]
    )
    found = days_agree(silver_days, serving_days) + batch_balances(metrics.to_pylist())
    return raise_if_any(
        "silver_reconciles",
        found,
        f"{len(silver_days)} days at silver v{silver_version}, {metrics.num_rows} metric batches balanced",
    )


def quality_tasks(settings: Settings) -> list[Any]:
    """Null-key checks (common-sql) and the reconciliations, all against airflow.postgres_conn_id; a failed check
    fails at once, an infrastructure error retries."""
    from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator
    from airflow.providers.standard.operators.python import PythonOperator

    conn_id = airflow_settings(settings).postgres_conn_id
    limit = timeout(settings, "checks")
    tasks: list[Any] = [
        SQLColumnCheckOperator(
            task_id=f"keys_not_null_{table.name}",
            conn_id=conn_id,
            table=table.serving,
            column_mapping={key: {"null_check": {"equal_to": 0}} for key in table.key},
            retry_on_failure=False,
            execution_timeout=limit,
        )
        for table in MART_TABLES
    ]
    for check in (check_rows_match_gold, check_revenue_reconciles, check_silver_reconciles):
        tasks.append(
            PythonOperator(
                task_id=check.__name__.removeprefix("check_"),
                python_callable=fail_fast(check),
                op_kwargs={"conn_id": conn_id},
                execution_timeout=limit,
            )
        )
    return tasks
