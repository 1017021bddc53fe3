"""Asset events for Delta commits made outside Airflow: the continuous streams commit to silver, and an AssetWatcher
with this trigger (in the triggerer) turns each new data commit into an event that schedules the streaming DAG."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

log = logging.getLogger(__name__)
STATE_KEY = "delta_version"
NO_DATA_OPERATIONS = frozenset(
    {
        "CREATE TABLE",
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "UPGRADE PROTOCOL",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "ADD FEATURE",
        "DROP FEATURE",
    }
)
"""Delta operations that change no rows: maintenance and table set-up. Any other operation counts as data."""
FIRST_LOOK_VERSIONS = 100
"""How far back the watcher's first look reads the log: a few Delta log files, not a busy table's whole history."""
HISTORY_READS = 5
"""deltalake's history lists every commit in the log but numbers them down from the version the table was loaded
at, so a commit landing between the load and the listing shifts every number by one. A read is kept only if the
table's version did not move meanwhile. A table that moves during this many reads (a slow store, a busy writer)
gets its version as the one data commit: gold runs and finds what it finds, and the watcher never falls behind."""


def empty_append(entry: dict[str, Any]) -> bool:
    """An append that wrote no rows: an empty micro-batch still commits, to record its transaction id. Spark's
    Delta counts the rows as numOutputRows, delta-rs as num_added_rows."""
    metrics = entry.get("operationMetrics") or {}
    mode = (entry.get("operationParameters") or {}).get("mode", "Append")
    return (
        entry.get("operation") in ("WRITE", "STREAMING UPDATE")
        and str(mode).strip('"') == "Append"
        and str(metrics.get("numOutputRows", metrics.get("num_added_rows"))) == "0"
    )


def data_versions(history: Iterable[dict[str, Any]], after: int) -> list[int]:
    """Versions after `after` whose commit may change rows, ascending; OPTIMIZE, VACUUM and property commits
    (maintenance) and appends of no rows are left out so they do not start a gold run of their own."""
    return sorted(
        int(entry["version"])
        for entry in history
        if int(entry["version"]) > after
        and entry.get("operation") not in NO_DATA_OPERATIONS
        and not empty_append(entry)
    )


def new_data(uri: str, seen: int | None) -> tuple[int | None, list[int]]:
    """The table's version now and the data commits since `seen`. When `seen` is unknown (the watcher's first
    look), the data commits among the last FIRST_LOOK_VERSIONS: a new table holding only its creation and empty
    micro-batches starts no gold run, while a table with rows does, and so does one whose older history was not
    read (past the window, or its log files cleaned up). When `seen` is ahead of the table (it was recreated),
    its version counts, so gold runs and says what it finds."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    for _ in range(HISTORY_READS):
        try:
            table = DeltaTable(uri)
            current = table.version()
            if seen is not None and current <= seen:
                return current, ([] if current == seen else [current])
            history = table.history(limit=FIRST_LOOK_VERSIONS if seen is None else current - seen)
            moved = DeltaTable(uri).version() != current
        except TableNotFoundError:
            return None, []
        if not moved:
            return current, _found(history, current, seen)
    log.warning(
        "%s committed during each of %d reads of its history; version %d stands for the commits since %s",
        uri,
        HISTORY_READS,
        current,
        seen,
    )
    return current, [current]


def _found(history: list[dict[str, Any]], current: int, seen: int | None) -> list[int]:
    """The data commits in `history` after `seen`. If there are none but fewer commits were read than lie between
    `seen` (or the table's creation) and `current` (past the first look's window, or log files cleaned up), the
    version now stands for the unread ones: they may have added rows."""
    after = -1 if seen is None else seen
    found = data_versions(history, after)
    return found or ([current] if len(history) < current - after else [])


class DeltaCommitTrigger(BaseEventTrigger):
    """Poll a Delta table's version with delta-rs (a log read, no Spark) every `poll_s` seconds; yield one event
    per poll that found new data commits. The last version seen is kept in the asset's state store, so a
    triggerer restart neither repeats nor loses an event."""

    def __init__(self, uri: str, poll_s: int) -> None:
        super().__init__()
        self.uri = uri
        self.poll_s = poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"uri": self.uri, "poll_s": self.poll_s}

    async def _stored(self) -> int | None:
        if self.asset_state_store is None:
            return None
        value = await self.asset_state_store.aget(STATE_KEY)
        return None if value is None else int(value)

    async def _store(self, version: int) -> None:
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(STATE_KEY, version)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen = await self._stored()
        while True:
            current, versions = await asyncio.to_thread(new_data, self.uri, seen)
            if current is None:
                log.warning("no Delta table at %s yet (storage.lake_uri): start the silver stream", self.uri)
            elif current != seen:
                if versions:
                    yield TriggerEvent({"uri": self.uri, "delta_version": current, "data_versions": versions})
                seen = current
                await self._store(current)
            await asyncio.sleep(self.poll_s)
