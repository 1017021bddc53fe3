"""The lake's Delta tables as Airflow Assets, one name and URI per table, and the streams' watchers for streaming
mode."""

from __future__ import annotations

from typing import Any

from config.catalog import BRONZE_EVENTS, SILVER_EVENTS, Table
from config.settings import Settings
from lakehouse_dags.defaults import airflow_settings, asset_uri


def lake_asset(settings: Settings, table: Table, watchers: list[Any] | None = None) -> Any:
    """Asset `<layer>.<name>` at the table's URI (file:// locally), the same identity the batch DAG emits."""
    from airflow.sdk import Asset

    return Asset(name=table.qualified, uri=asset_uri(settings, table), watchers=watchers or [])


def watched(settings: Settings, table: Table) -> Any:
    """The table's asset with a watcher (`<layer>_<name>_commits`) that records an asset event each time a stream
    outside Airflow commits new rows to it, polled every airflow.stream_poll_s seconds."""
    from airflow.sdk import AssetWatcher

    from lakehouse_dags.triggers import DeltaCommitTrigger

    trigger = DeltaCommitTrigger(uri=settings.storage.uri_of(table), poll_s=airflow_settings(settings).stream_poll_s)
    return lake_asset(settings, table, [AssetWatcher(name=f"{table.layer}_{table.name}_commits", trigger=trigger)])


def streams_condition(settings: Settings) -> Any:
    """`silver | (bronze & silver)`: true exactly when silver has new commits, so only silver starts a run.
    Bronze is in the condition because Airflow runs a watcher only for an asset that an unpaused DAG is scheduled
    on; this way the bronze stream's commits are recorded as asset events too (the Assets view shows both
    streams' progress, and each run lists the bronze and silver commits it consumed) without starting gold runs
    of their own."""
    silver, bronze = watched(settings, SILVER_EVENTS), watched(settings, BRONZE_EVENTS)
    return silver | (bronze & silver)
