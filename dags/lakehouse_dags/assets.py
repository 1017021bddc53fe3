"""The lake's Delta tables as Airflow Assets, one name and URI per table, and silver's watcher for streaming mode."""

from __future__ import annotations

from typing import Any

from config.catalog import SILVER_EVENTS, Table
from config.settings import Settings
from lakehouse_dags.defaults import airflow_settings, asset_uri


def lake_asset(settings: Settings, table: Table, watchers: list[Any] | None = None) -> Any:
    """Asset `<layer>.<name>` at the table's URI (file:// locally), the same identity the batch DAG emits."""
    from airflow.sdk import Asset

    return Asset(name=table.qualified, uri=asset_uri(settings, table), watchers=watchers or [])


def watched_silver(settings: Settings) -> Any:
    """silver.events with a watcher that records an asset event when the silver stream commits new rows."""
    from airflow.sdk import AssetWatcher

    from lakehouse_dags.triggers import DeltaCommitTrigger

    trigger = DeltaCommitTrigger(
        uri=settings.storage.uri_of(SILVER_EVENTS), poll_s=airflow_settings(settings).silver_poll_s
    )
    return lake_asset(settings, SILVER_EVENTS, [AssetWatcher(name="silver_events_commits", trigger=trigger)])
