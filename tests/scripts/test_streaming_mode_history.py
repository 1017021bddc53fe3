"""The streaming-mode watcher finds silver's newest commit with rows by reading the log a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from config.settings import load_settings
from scripts.airflow_local import streaming_mode
from scripts.airflow_local.streaming_mode import StreamingModeError, last_silver_commit


class _Log:
    """Delta's history, newest first, as DeltaTable.history(limit) returns it; records the limits asked for."""

    def __init__(self, rows_at: set[int], versions: int) -> None:
        self.entries = [
            {"version": v, "timestamp": 1_700_000_000_000 + v * 1000, "operationMetrics": _metrics(v in rows_at)}
            for v in reversed(range(versions))
        ]
        self.limits: list[int | None] = []

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        self.limits.append(limit)
        return self.entries[:limit]


def _metrics(with_rows: bool) -> dict[str, str]:
    return {"numOutputRows": "7" if with_rows else "0"}


@pytest.mark.parametrize(
    ("rows_at", "versions", "expected_version", "pages"),
    [
        ({199}, 200, 199, 1),  # the newest commit added rows: the first page has it
        ({10}, 200, 10, 2),  # 189 empty commits after it: the second page
        ({3}, 5000, 3, 3),  # deeper than the second page: the whole log
    ],
)
def test_finds_the_newest_commit_with_rows(
    monkeypatch: pytest.MonkeyPatch, rows_at: set[int], versions: int, expected_version: int, pages: int
) -> None:
    log = _Log(rows_at, versions)
    monkeypatch.setattr(streaming_mode, "DeltaTable", lambda uri: log)
    found = last_silver_commit(load_settings())
    assert found == datetime.fromtimestamp((1_700_000_000_000 + expected_version * 1000) / 1000, UTC)
    assert len(log.limits) == pages


def test_a_silver_without_rows_is_an_error_after_reading_the_whole_log(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _Log(set(), 3000)
    monkeypatch.setattr(streaming_mode, "DeltaTable", lambda uri: log)
    with pytest.raises(StreamingModeError, match="has no commit with rows"):
        last_silver_commit(load_settings())
    assert log.limits[-1] is None


def test_a_short_log_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _Log(set(), 12)
    monkeypatch.setattr(streaming_mode, "DeltaTable", lambda uri: log)
    with pytest.raises(StreamingModeError):
        last_silver_commit(load_settings())
    assert log.limits == [50]
