"""The demo prints each fact once: the topic's and the lake's findings side by side, money like the counts."""

from __future__ import annotations

from decimal import Decimal

from config.reconciliation import Found, against_manifest, ids_sha256
from scripts import demo

SILVER_IDS = [f"e{i}" for i in range(950)]
MANIFEST = {
    "delivered": 1000,
    "expected": {"silver": 950, "duplicates": 10, "quarantine": {"bad_json": 30, "future_timestamp": 10}},
    "expected_ids_sha256": {"silver": ids_sha256(SILVER_IDS), "duplicates": ids_sha256([]), "quarantine": {}},
}
TOPIC = against_manifest(
    MANIFEST, Found(1000, 950, ids_sha256(SILVER_IDS), 10, {"bad_json": 30, "future_timestamp": 9})
)
LAKE = [
    *against_manifest(MANIFEST, Found(1000, 950, ids_sha256(SILVER_IDS), 10, {"bad_json": 30, "future_timestamp": 10})),
    ("ledger: in = silver + quarantine + dup", 1000, 1000, True),
]


def test_each_fact_is_one_row_with_the_topic_and_the_lake_side_by_side():
    rows = demo.ledger(TOPIC, LAKE)
    assert rows == [
        ("delivered", 1000, 1000, 1000, True),
        ("silver (ids match)", 950, 950, 950, True),
        ("duplicates", 10, 10, 10, True),
        ("quarantine: bad_json", 30, 30, 30, True),
        ("quarantine: future_timestamp", 10, 9, 10, False),
        ("ledger: in = silver + quarantine + dup", 1000, None, 1000, True),
    ]


def test_without_lake_rows_the_topic_rows_stand_alone():
    assert demo.ledger(TOPIC, []) == [(w, e, f, None, ok) for w, e, f, ok in TOPIC]


def test_the_printed_ledger_names_each_quarantine_reason_once(capsys):
    demo.print_ledger(demo.ledger(TOPIC, LAKE))
    out = capsys.readouterr().out
    assert out.count("bad_json") == 1 and out.count("future_timestamp") == 1
    assert [line.split()[-1] for line in out.splitlines() if "quarantine:" in line] == ["ok", "MISMATCH"]
    assert "\x1b[" not in out
    assert "1,000" in out


def test_money_is_exact_with_thousands_separators(capsys):
    assert demo.money(Decimal("1234567.89")) == "1,234,567.89"
    assert demo.money("1234567.8900") == "1,234,567.8900"
    rows = [
        ("revenue_gbp: silver purchases", "1234567.89", "1234567.89", True),
        ("revenue_gbp: gold fct_purchases_daily vs silver purchases", "1234567.89", "1234567.89", True),
        ("revenue_gbp: serving.fct_purchases_daily vs silver purchases", "1234567.89", "1234567.88", False),
    ]
    demo.print_revenue(rows, "DISAGREE")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["revenue_gbp", "sum", "DISAGREE"]
    assert lines[2].split() == ["silver", "purchases", "1,234,567.89", "ok"]
    assert lines[3].split() == ["gold", "fct_purchases_daily", "1,234,567.89", "ok"]
    assert lines[4].split() == ["serving.fct_purchases_daily", "1,234,567.88", "MISMATCH"]
