"""DuckDB over bronze's payloads: the single-node floor the benchmarks judge the pipeline's time against.

Neither query is a second implementation: a few null, pattern and enum tests stand in for the contract, so the
benchmarks compare times, never rows.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from config.catalog import MARTS

DUCKDB_REFERENCE = """
with events as (
    select * from read_ndjson(?, ignore_errors = true, columns = {
        event_id: 'VARCHAR', event_ts: 'TIMESTAMPTZ', user_id: 'VARCHAR', event_type: 'VARCHAR',
        price_gbp: 'DECIMAL(10,2)', quantity: 'INTEGER'
    })
), unique_events as (
    select * from events where event_id is not null
    qualify row_number() over (partition by event_id order by event_ts) = 1
)
select cast(event_ts as date) as event_date,
    count(*) filter (where event_type = 'purchase') as purchases,
    sum(price_gbp * quantity) filter (where event_type = 'purchase') as revenue_gbp,
    count(distinct user_id) filter (where event_type = 'purchase') as purchasing_users
from unique_events group by 1
"""


def duckdb_reference_s(bronze_uri: str, workdir: Path) -> tuple[float, int]:
    """Seconds (and days out) for DuckDB to read bronze's payloads as JSON, keep one row per event_id and sum the
    daily purchases, from a newline-delimited file written beforehand (untimed). No contract and no quarantine: it
    is the single-node floor the Spark time is judged against, not a second implementation."""
    values = DeltaTable(bronze_uri).to_pyarrow_table(columns=["value"]).column("value").to_pylist()
    path = workdir / "reference.ndjson"
    path.write_bytes(b"\n".join(value.replace(b"\n", b" ") for value in values if value is not None))
    try:
        with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
            con.execute("set TimeZone = 'UTC'")
            started = time.perf_counter()
            days = con.execute(DUCKDB_REFERENCE, [str(path)]).fetchall()
            return time.perf_counter() - started, len(days)
    finally:
        path.unlink()


DUCKDB_MARTS = """
create temp table events as
with parsed as (
    select topic, "partition", "offset",
        json_extract_string(value, '$.event_id') as event_id,
        try_strptime(json_extract_string(value, '$.event_ts'), '%Y-%m-%dT%H:%M:%S.%gZ') as event_ts,
        json_extract_string(value, '$.user_id') as user_id,
        json_extract_string(value, '$.session_id') as session_id,
        json_extract_string(value, '$.event_type') as event_type,
        json_extract_string(value, '$.product_id') as product_id,
        try_cast(json_extract_string(value, '$.price_gbp') as decimal(10, 2)) as price_gbp,
        try_cast(json_extract_string(value, '$.quantity') as integer) as quantity,
        json_extract_string(value, '$.schema_version') as schema_version,
        json_extract_string(value, '$.device') as device,
        json_extract_string(value, '$.country') as country
    from read_parquet(?)
    where json_valid(value)
)
select * exclude (topic, "partition", "offset", schema_version, device, country) from parsed
where regexp_full_match(event_id, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
    and event_ts <= now() + interval 5 minute and regexp_full_match(schema_version, '1\\.[0-9]{1,3}')
    and regexp_full_match(user_id, '[A-Za-z0-9_-]{1,64}') and regexp_full_match(session_id, '[A-Za-z0-9_-]{1,64}')
    and device is not null and country is not null
    and (event_type = 'page_view'
        or (event_type in ('add_to_cart', 'purchase') and product_id is not null and price_gbp >= 0 and quantity > 0))
qualify row_number() over (partition by event_id order by topic, "partition", "offset") = 1;

create temp table fct_sessions as
select session_id, arg_min(user_id, (event_ts, event_id)) as user_id, min(event_ts) as started_at,
    max(event_ts) as ended_at, count(*) as events,
    count(*) filter (where event_type = 'page_view') as page_views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp,
    cast(min(event_ts) as date) as session_date
from events group by session_id;

create temp table dim_users as
select user_id, min(event_ts) as first_seen_at, max(event_ts) as last_seen_at, count(*) as events,
    count(distinct session_id) as sessions, count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp
from events group by user_id;

create temp table dim_products as
select product_id, count(*) filter (where event_type = 'page_view') as views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp
from events where product_id is not null group by product_id;

create temp table fct_purchases_daily as
select cast(event_ts as date) as event_date, count(*) as purchases, sum(quantity) as units,
    sum(price_gbp * quantity) as revenue_gbp, count(distinct user_id) as purchasing_users
from events where event_type = 'purchase' group by 1;

create temp table fct_funnel_daily as
select session_date as event_date, count(*) as sessions, count(*) filter (where page_views > 0) as with_view,
    count(*) filter (where add_to_carts > 0) as with_cart, count(*) filter (where purchases > 0) as with_purchase
from fct_sessions group by 1;
"""
"""The five marts by the definitions in docs/data_model.md, from the raw payloads. A floor, not a second
implementation: its checks are a few null and enum tests, not the contract, so its rows are not compared."""


def duckdb_marts_s(bronze_uri: str, workdir: Path) -> tuple[float, dict[str, int]]:
    """Seconds DuckDB takes to parse bronze's payloads, keep the lowest Kafka coordinate of each event_id and build
    the five marts, from a Parquet copy of bronze's value (as UTF-8 text, bad bytes replaced) and coordinates written
    beforehand (untimed); and the marts' row counts."""
    bronze = DeltaTable(bronze_uri).to_pyarrow_table(columns=["value", "topic", "partition", "offset"])
    text = [None if v is None else v.decode("utf-8", "replace") for v in bronze.column("value").to_pylist()]
    path = workdir / "reference.parquet"
    pq.write_table(bronze.set_column(0, "value", pa.array(text, pa.string())), path)
    try:
        with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
            con.execute("set TimeZone = 'UTC'")
            started = time.perf_counter()
            for statement in filter(str.strip, DUCKDB_MARTS.split(";")):
                con.execute(statement, [str(path)] if "read_parquet" in statement else [])
            seconds = time.perf_counter() - started
            counts = {mart: con.execute(f"select count(*) from {mart}").fetchone()[0] for mart in MARTS}
            return seconds, counts
    finally:
        path.unlink()
