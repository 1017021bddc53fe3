"""The demo prints each fact once: the topic's and the lake's findings side by side, money like the counts."""

from __future__ import annotations

from decimal import Decimal

from scripts import demo

TOPIC = [
    ("delivered", 1000, 1000, True),
    ("silver (valid, unique)", 950, 950, True),
    ("duplicates", 10, 10, True),
    ("quarantine: bad_json", 30, 30, True),
    ("quarantine: future_timestamp", 10, 9, False),
]
LAKE = [
    ("bronze rows", 1000, 1000, True),
    ("silver rows (ids match)", 950, 950, True),
    ("duplicates skipped", 10, 10, True),
    ("quarantined: bad_json", 30, 30, True),
    ("quarantined: future_timestamp", 10, 10, True),
    ("ledger: in = silver + quarantine + dup", 1000, 1000, True),
]


def test_each_fact_is_one_row_with_the_topic_and_the_lake_side_by_side():
    rows = demo.ledger(TOPIC, LAKE)
    assert rows == [
        ("bronze rows", 1000, 1000, 1000, True),
        ("silver rows (ids match)", 950, 950, 950, True),
        ("duplicates skipped", 10, 10, 10, True),
        ("quarantined: bad_json", 30, 30, 30, True),
        ("quarantined: future_timestamp", 10, 9, 10, False),
        ("ledger: in = silver + quarantine + dup", 1000, None, 1000, True),
    ]


def test_without_lake_rows_the_topic_rows_stand_alone():
    assert demo.ledger(TOPIC, []) == [(w, e, f, None, ok) for w, e, f, ok in TOPIC]


def test_the_printed_ledger_names_each_quarantine_reason_once(capsys):
    demo.print_ledger(demo.ledger(TOPIC, LAKE))
    out = capsys.readouterr().out
    assert out.count("bad_json") == 1 and out.count("future_timestamp") == 1
    assert [line.split()[-1] for line in out.splitlines() if "quarantined" in line] == ["ok", "MISMATCH"]
    assert "\x1b[" not in out
    assert "1,000" in out


def test_money_is_exact_with_thousands_separators(capsys):
    assert demo.money(Decimal("1234567.89")) == "1,234,567.89"
    assert demo.money("1234567.8900") == "1,234,567.8900"
    rows = [
        ("revenue_gbp: silver purchases", "1234567.89", "1234567.89", True),
        ("revenue_gbp: gold fct_purchases_daily", "1234567.89", "1234567.89", True),
        ("revenue_gbp: postgres serving", "1234567.89", "1234567.88", False),
    ]
    demo.print_revenue(rows, "DISAGREE")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["revenue_gbp", "sum", "DISAGREE"]
    assert lines[2].split() == ["silver", "purchases", "1,234,567.89", "ok"]
    assert lines[4].split() == ["postgres", "serving", "1,234,567.88", "MISMATCH"]
