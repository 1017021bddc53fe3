"""The table catalog: every table the pipeline writes, with its layer, key, grain and serving twin.

One place for these facts, read by the jobs, the DAG's assets and checks, the loader, the reconciliation and the
run report; `tests/config/test_catalog.py` holds gold's builders to it and `tests/postgres/test_catalog_keys.py`
the migrated serving tables' primary keys. It is Python rather than YAML so that it ships inside the code archive,
the wheel and the DAG bundle with nothing to find at run time, and so that a typo is an import error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One table: where it lives (`layer`/`name` under storage.lake_uri), what identifies a row, what a row is."""

    layer: str
    name: str
    key: tuple[str, ...]
    grain: str
    serving: str | None = None
    """The PostgreSQL table the loader publishes it to (schema-qualified), if it is served."""
    measures: tuple[str, ...] = ()
    """Additive columns whose totals must agree with the other marts' (the quality checks compare them)."""

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"


MONEY = ("revenue_gbp", "purchases")

BRONZE_EVENTS = Table("bronze", "events", ("topic", "partition", "offset"), "one Kafka record, as received")
SILVER_EVENTS = Table("silver", "events", ("event_id",), "one valid event; the first record of an event_id wins")
QUARANTINE = Table(
    "silver",
    "quarantine",
    ("kafka_topic", "kafka_partition", "kafka_offset"),
    "one record that failed the contract, with its reasons",
)
SILVER_METRICS = Table(
    "silver",
    "metrics",
    ("stream", "app_id", "batch_id"),
    "one micro-batch's ledger: rows in = inserted + quarantined + duplicates",
)
DIM_USERS = Table("gold", "dim_users", ("user_id",), "one user", "serving.dim_users", MONEY)
DIM_PRODUCTS = Table("gold", "dim_products", ("product_id",), "one product", "serving.dim_products", MONEY)
FCT_PURCHASES_DAILY = Table(
    "gold", "fct_purchases_daily", ("event_date",), "one UTC day of purchases", "serving.fct_purchases_daily", MONEY
)
FCT_FUNNEL_DAILY = Table(
    "gold",
    "fct_funnel_daily",
    ("event_date",),
    "one UTC day's view -> cart -> purchase funnel",
    "serving.fct_funnel_daily",
)
FCT_SESSIONS = Table("gold", "fct_sessions", ("session_id",), "one session", "serving.fct_sessions", MONEY)
GOLD_STATE = Table(
    "gold", "_state", (), "one row: the silver table and version the last finished gold run read (its position)"
)
STREAMING_PROGRESS = Table(
    "metrics",
    "streaming_progress",
    ("query_id", "batch_id"),
    "one finished micro-batch of a stream, as Spark reports it",
)

MART_TABLES = (DIM_USERS, DIM_PRODUCTS, FCT_PURCHASES_DAILY, FCT_FUNNEL_DAILY, FCT_SESSIONS)
"""The gold marts that are served, in the order the loader publishes them."""
MARTS = tuple(table.name for table in MART_TABLES)
TABLES = (
    BRONZE_EVENTS,
    SILVER_EVENTS,
    QUARANTINE,
    SILVER_METRICS,
    *MART_TABLES,
    GOLD_STATE,
    STREAMING_PROGRESS,
)


def mart(name: str) -> Table:
    """The served gold mart `name`; a KeyError names the marts there are."""
    for table in MART_TABLES:
        if table.name == name:
            return table
    raise KeyError(f"no gold mart {name!r} in config/catalog.py: choose from {', '.join(MARTS)}")
