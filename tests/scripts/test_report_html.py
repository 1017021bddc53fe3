"""The report page's text: money and waits formatted as a person reads them, served marts shown with their totals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from scripts.report import compute, render
from tests.scripts.report_page import remote

MISSING = {"available": False, "why": "test <input> missing"}
TS = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "–"),
        (0.0123, "0.012 s"),
        (59.9994, "59.999 s"),
        (87.4, "1 min 27 s"),
        (3 * 3600 + 26 * 60, "3 h 26 min"),
        (2 * 86400 + 4 * 3600 + 1, "2 d 4 h"),
    ],
)
def test_duration_reads_as_a_person_would_say_it(seconds: float | None, shown: str) -> None:
    assert render.duration(seconds) == shown


def test_money_has_thousands_separators_and_pence() -> None:
    assert render.money("1234567.5") == "£1,234,567.50"
    assert render.money(Decimal("0.10")) == "£0.10"


def page(serving: dict) -> str:
    data = {"run": "r", "lake": "/lake", "generated_at": "now", "verdict": None, "serving": serving}
    data |= {key: MISSING for key in ("ledger", "quarantine_timeline", "stages", "freshness")}
    return render.render(data)


def test_served_marts_show_each_day_the_total_and_a_warning_when_serving_holds_another_lake() -> None:
    purchases = [
        {
            "event_date": date(2026, 1, d),
            "purchases": 1000 * d,
            "units": 2,
            "revenue_gbp": Decimal("1234.5"),
            "purchasing_users": 1,
        }
        for d in (1, 2)
    ]
    steps = {
        "sessions": 12000,
        "sessions_with_view": 11000,
        "sessions_with_add_to_cart": 3000,
        "sessions_with_purchase": 900,
    }
    serving = {
        "available": True,
        "revenue": compute.revenue_daily(purchases),
        "funnel": compute.funnel([{"event_date": date(2026, 1, 1), **steps}]),
        "revenue_verdict": "agree",
        "from_this_lake": {"fct_purchases_daily": True, "fct_funnel_daily": False},
    }
    html = page(serving)
    assert "£1,234.50" in html and "£2,469.00" in html and ">3,000<" in html and ">12,000<" in html
    assert "serving.fct_funnel_daily: last published from another lake" in html
    assert "serving.fct_purchases_daily:" not in html
    assert html.count("* plotly.js v") == 1, "plotly.js must be inlined exactly once"


def test_a_missing_input_is_named_escaped_and_nothing_is_fetched() -> None:
    html = page(MISSING)
    assert html.count("not available: test &lt;input&gt; missing") == 5
    assert "plotly" not in html.lower().split('id="report-data"')[0]
    assert remote([]) == []


def test_silver_rows_whose_commit_left_the_log_are_counted_in_a_note() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    silver = pa.table(
        {
            "event_ts": pa.array([at, at], TS),
            "ingested_at": pa.array([at, at], TS),
            "silver_app_id": ["a", "gone"],
            "silver_batch_id": pa.array([0, 0], pa.int64()),
        }
    )
    commits = pa.table(
        {
            "app_id": ["a"],
            "batch_id": pa.array([0], pa.int64()),
            "committed_at": pa.array([at], TS),
        }
    )
    data = {"run": "r", "lake": "/lake", "generated_at": "now", "verdict": None, "serving": MISSING}
    data |= {key: MISSING for key in ("ledger", "quarantine_timeline", "stages")}
    data["freshness"] = {"available": True, **compute.freshness(silver, commits, None), "publish_why": None}
    assert "1 silver rows have no commit of their batch in silver&#x27;s Delta log" in render.render(data)
