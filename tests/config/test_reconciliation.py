"""The comparisons every reconciliation shares: a found side equal to the manifest passes, and any single change
to a count or an id set fails exactly the row that states it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from config.reconciliation import Found, against_manifest, failures, ids_sha256, ledger_totals

REASONS = ("bad_json", "future_timestamp", "missing_field")
ids = st.lists(st.text("abcdef0123", min_size=1, max_size=6), unique=True, max_size=12)


def manifest_and_found(silver: list[str], duplicates: list[str], quarantine: dict[str, list[str]]):
    delivered = len(silver) + len(duplicates) + sum(map(len, quarantine.values()))
    manifest = {
        "delivered": delivered,
        "expected": {
            "silver": len(silver),
            "duplicates": len(duplicates),
            "quarantine": {code: len(v) for code, v in quarantine.items()},
        },
        "expected_ids_sha256": {
            "silver": ids_sha256(silver),
            "duplicates": ids_sha256(duplicates),
            "quarantine": {code: ids_sha256(v) for code, v in quarantine.items()},
        },
    }
    found = Found(
        delivered,
        len(silver),
        ids_sha256(silver),
        len(duplicates),
        {code: len(v) for code, v in quarantine.items()},
        ids_sha256(duplicates),
        {code: ids_sha256(v) for code, v in quarantine.items()},
    )
    return manifest, found


@given(ids, ids, st.dictionaries(st.sampled_from(REASONS), ids, max_size=3))
def test_the_found_side_equal_to_the_manifest_passes(silver, duplicates, quarantine):
    manifest, found = manifest_and_found(silver, duplicates, quarantine)
    rows = against_manifest(manifest, found)
    assert failures(rows) == []
    assert [r.what for r in rows][:3] == ["delivered", "silver (ids match)", "duplicates"]


@given(ids.filter(bool))
def test_a_different_silver_id_with_the_same_count_fails_only_silver(silver):
    manifest, found = manifest_and_found(silver, [], {})
    swapped = [*silver[1:], silver[0] + "x"]
    wrong = Found(found.delivered, len(swapped), ids_sha256(swapped), 0, {})
    assert [r.what for r in failures(against_manifest(manifest, wrong))] == ["silver (ids match)"]


def test_a_missing_or_unexpected_reason_fails_by_its_count_and_names_the_amount():
    manifest, found = manifest_and_found(["a"], [], {"bad_json": ["b", "c"]})
    moved = Found(found.delivered, 1, found.silver_sha256, 0, {"future_timestamp": 2})
    assert [str(r) for r in failures(against_manifest(manifest, moved))] == [
        "quarantine: bad_json: expected 2, got 0 (off by -2)",
        "quarantine: future_timestamp: expected 0, got 2 (off by +2)",
    ]


def test_the_ledger_leaves_redrives_out_of_the_balance_and_counts_their_inserts():
    batches = [
        {"stream": "silver", "rows_in": 10, "inserted": 6, "quarantined": 3, "duplicates": 1},
        {"stream": "redrive", "rows_in": 2, "inserted": 1, "quarantined": 1, "duplicates": 0},
    ]
    assert failures(ledger_totals(batches, bronze_rows=10, silver_rows=7, quarantine_rows=2)) == []
    lost = ledger_totals(batches, bronze_rows=11, silver_rows=7, quarantine_rows=2)
    assert [r.what for r in failures(lost)] == ["ledger: in = silver + quarantine + dup"]
