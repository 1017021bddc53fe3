"""The generator is exact in count, deterministic by seed, realistic, and labels every anomaly truthfully."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from kafka.contract import REASON_CODES, validate_payload
from kafka.events import (
    DEFAULT_ANOMALIES,
    EXPECTED_OUTCOME,
    KINDS,
    NO_ANOMALIES,
    SPAN_MS,
    AnomalyMix,
    generate,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HEAVY = AnomalyMix(**{item.name: 0.03 for item in fields(AnomalyMix)})


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def clean() -> list[tuple[bytes, bytes, str, str | None]]:
    return list(generate(10_000, seed=7, anomalies=NO_ANOMALIES, now=NOW))


@pytest.fixture(scope="module")
def mixed() -> list[tuple[bytes, bytes, str, str | None]]:
    return list(generate(9_000, seed=11, anomalies=HEAVY, now=NOW))


def test_kinds_and_expected_outcomes_cover_every_anomaly_with_a_known_reason():
    assert KINDS == ("valid", *(item.name for item in fields(AnomalyMix)))
    assert set(EXPECTED_OUTCOME) == set(KINDS)
    for kind, outcome in EXPECTED_OUTCOME.items():
        assert outcome in ("silver", "duplicate") or outcome.removeprefix("quarantine:") in REASON_CODES, kind
    assert EXPECTED_OUTCOME["late"] == "silver" and EXPECTED_OUTCOME["duplicate"] == "duplicate"


@pytest.mark.parametrize("count", [0, 1, 2, 4095, 4096, 4097, 9_999])
def test_yields_exactly_count_records(count):
    assert sum(1 for _ in generate(count, seed=1, anomalies=HEAVY, now=NOW)) == count


def test_same_seed_count_and_now_give_identical_bytes():
    first = list(generate(6_000, seed=5, now=NOW))
    assert first == list(generate(6_000, seed=5, now=NOW))
    assert first != list(generate(6_000, seed=6, now=NOW))
    assert first != list(generate(6_000, seed=5, now=NOW + timedelta(minutes=1)))


def test_default_now_is_the_current_minute():
    _, value, _, _ = next(generate(1, seed=1, anomalies=NO_ANOMALIES))
    stamp = parse_ts(json.loads(value)["event_ts"])
    assert datetime.now(UTC) - timedelta(days=3, minutes=2) <= stamp <= datetime.now(UTC)


def test_clean_stream_is_all_valid_against_the_contract(clean):
    assert {kind for _, _, kind, _ in clean} == {"valid"}
    failures = [(value, validate_payload(value, now=NOW)) for _, value, _, _ in clean]
    assert [f for f in failures if f[1]] == []


def test_event_ids_are_unique_canonical_v4_uuids(clean):
    ids = [event_id for _, _, _, event_id in clean]
    assert len(set(ids)) == len(ids)
    for event_id, (_, value, _, _) in zip(ids, clean, strict=True):
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert json.loads(value)["event_id"] == event_id


def test_keys_are_user_ids_and_each_session_is_in_time_order(clean):
    sessions: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for key, value, _, _ in clean:
        event = json.loads(value)
        assert key == event["user_id"].encode()
        sessions[(event["user_id"], event["session_id"])].append(parse_ts(event["event_ts"]))
    assert len(sessions) > 1_000
    for stamps in sessions.values():
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_stream_is_realistic(clean):
    events = [json.loads(value) for _, value, _, _ in clean]
    types = Counter(event["event_type"] for event in events)
    assert types["page_view"] > 0.75 * len(events)
    assert 0 < types["purchase"] < types["add_to_cart"] < types["page_view"]
    sessions = {(e["user_id"], e["session_id"]) for e in events}
    buying = {(e["user_id"], e["session_id"]) for e in events if e["event_type"] == "purchase"}
    assert 0.01 < len(buying) / len(sessions) < 0.10
    assert len({e["user_id"] for e in events}) > 1_500
    prices: dict[str, set] = defaultdict(set)
    for event in events:
        if event["price_gbp"] is not None:
            prices[event["product_id"]].add(event["price_gbp"])
    assert all(len(seen) == 1 for seen in prices.values()), "a product's price must be fixed"
    sizes = [len(value) for _, value, _, _ in clean]
    assert 250 <= sum(sizes) / len(sizes) <= 350
    stamps = [parse_ts(e["event_ts"]) for e in events]
    assert NOW - timedelta(milliseconds=SPAN_MS) <= min(stamps) < max(stamps) <= NOW
    assert max(stamps) - min(stamps) > timedelta(days=2)


def test_every_record_meets_its_labelled_outcome(mixed):
    seen_valid: dict[str, bytes] = {}
    latest_valid: datetime | None = None
    outcomes = Counter()
    for key, value, kind, event_id in mixed:
        outcome = EXPECTED_OUTCOME[kind]
        reasons = {violation.reason for violation in validate_payload(value, now=NOW)}
        if outcome == "duplicate":
            assert seen_valid[event_id] == value, "a duplicate must resend an earlier valid event byte for byte"
            assert reasons == set()
        elif outcome == "silver":
            assert reasons == set(), (kind, value)
            event = json.loads(value)
            assert event["event_id"] == event_id and key == event["user_id"].encode()
            if kind == "late" and latest_valid is not None:
                assert parse_ts(event["event_ts"]) <= latest_valid - timedelta(minutes=30)
            if kind == "valid":
                seen_valid[event_id] = value
                stamp = parse_ts(event["event_ts"])
                latest_valid = stamp if latest_valid is None else max(latest_valid, stamp)
        else:
            assert reasons == {outcome.removeprefix("quarantine:")}, (kind, value)
            assert event_id not in seen_valid
        outcomes[kind] += 1
    assert set(outcomes) == set(KINDS)
    for kind in KINDS[1:]:
        assert 0.02 * len(mixed) < outcomes[kind] < 0.04 * len(mixed), (kind, outcomes[kind])


def test_anomalies_report_the_event_id_they_still_carry(mixed):
    for _, value, kind, event_id in mixed:
        if kind in ("malformed_json", "invalid_utf8"):
            assert event_id is None
        elif kind in ("negative_price", "unknown_event_type", "future_timestamp", "wrong_type", "late"):
            assert event_id == json.loads(value)["event_id"]
        elif kind == "missing_field":
            assert event_id == json.loads(value).get("event_id")


def test_future_timestamps_are_days_ahead_and_late_ones_hours_behind(mixed):
    for _, value, kind, _ in mixed:
        if kind == "future_timestamp":
            assert parse_ts(json.loads(value)["event_ts"]) >= NOW + timedelta(days=1)
        if kind == "late":
            assert parse_ts(json.loads(value)["event_ts"]) <= NOW - timedelta(hours=1)


def test_default_mix_shares_are_roughly_honoured():
    kinds = Counter(kind for _, _, kind, _ in generate(100_000, seed=3, now=NOW))
    for item in fields(AnomalyMix):
        expected = getattr(DEFAULT_ANOMALIES, item.name) * 100_000
        assert 0.6 * expected < kinds[item.name] < 1.4 * expected, (item.name, kinds[item.name])


@pytest.mark.parametrize(
    "shares, message",
    [
        ({"late": -0.1}, "AnomalyMix.late"),
        ({"duplicate": 0.6, "late": 0.6}, "at most 1"),
        ({"late": "x"}, "late"),
    ],
)
def test_anomaly_mix_rejects_impossible_shares(shares, message):
    with pytest.raises(ValueError, match=message):
        AnomalyMix(**shares)


def test_all_anomalies_and_no_valid_events_still_yields_count():
    only_bad = AnomalyMix(**{item.name: 0.0 for item in fields(AnomalyMix)} | {"negative_price": 1.0})
    records = list(generate(500, seed=2, anomalies=only_bad, now=NOW))
    assert len(records) == 500 and {kind for _, _, kind, _ in records} == {"negative_price"}


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        next(generate(1, seed=1, now=datetime(2025, 6, 1)))
