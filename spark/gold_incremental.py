"""Pure planning for incremental gold: which silver versions to read and which mart keys they touch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

KEY_COLUMNS = ("event_date", "user_id", "product_id", "session_id", "event_type")
FULL_REFRESH_HINT = "rebuild gold with `python -m spark.jobs.gold --full-refresh` (make gold ARGS=--full-refresh)"


class GoldStateError(RuntimeError):
    """Gold cannot be brought up to date incrementally from what it recorded last time."""


@dataclass(frozen=True)
class SilverPosition:
    """A silver table (its Delta table id, which a drop and re-create changes) at one version."""

    table_id: str | None
    version: int


@dataclass(frozen=True)
class GoldPlan:
    """What one gold run does: rebuild everything, apply silver versions start..end, or nothing."""

    mode: Literal["full", "incremental", "noop"]
    end_version: int
    start_version: int | None = None


def plan_run(previous: SilverPosition | None, current: SilverPosition, full_refresh: bool) -> GoldPlan:
    """Choose the run's mode from the silver table and version gold processed last and silver's current ones.

    A state written before gold recorded the table id (table_id None) is trusted on its version alone."""
    if full_refresh or previous is None:
        return GoldPlan("full", current.version)
    if previous.table_id is not None and previous.table_id != current.table_id:
        raise GoldStateError(
            f"gold state says it processed silver table id {previous.table_id}, but silver is now table id "
            f"{current.table_id}: silver was recreated, and its versions are not the ones gold read; "
            f"{FULL_REFRESH_HINT}"
        )
    if previous.version > current.version:
        raise GoldStateError(
            f"gold state says silver version {previous.version} was processed, but silver is only at "
            f"version {current.version}: silver was recreated; {FULL_REFRESH_HINT}"
        )
    if previous.version == current.version:
        return GoldPlan("noop", current.version)
    return GoldPlan("incremental", current.version, previous.version + 1)


def changed_keys(changes: DataFrame) -> DataFrame:
    """Keys of every change-feed row (inserts, both update images, deletes): all of them may move a mart row."""
    return changes.select(*KEY_COLUMNS)


def touched(changed: DataFrame, key: str) -> DataFrame:
    """Distinct non-null values of one key among the changed rows."""
    return changed.where(F.col(key).isNotNull()).select(key).distinct()


def days_spanned(sessions: DataFrame) -> DataFrame:
    """Every UTC day from each fct_sessions row's session_date to the date it ended, as event_date."""
    return sessions.select(F.explode(F.sequence("session_date", F.to_date("ended_at"))).alias("event_date")).distinct()


def in_dates(column: str, days: Iterable[date]) -> str:
    """A SQL predicate selecting exactly these days (prunes date partitions; usable as replaceWhere)."""
    literals = ", ".join(f"DATE'{day.isoformat()}'" for day in sorted(set(days)))
    if not literals:
        raise ValueError("in_dates needs at least one day")
    return f"{column} IN ({literals})"


def differs(columns: Sequence[str], target: str = "t", source: str = "s") -> str:
    """A MERGE condition true when any column differs (null-safe), so unchanged rows are not rewritten."""
    return " OR ".join(f"NOT ({target}.`{c}` <=> {source}.`{c}`)" for c in columns)
