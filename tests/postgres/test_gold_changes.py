"""The incremental load stages what the change data feed says, without reading the table: applied to the
version last loaded, those changes must give exactly the pinned version, whatever sequence of appends, updates,
deletes, merges and overwrites came between (real Delta tables written by delta-rs)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postgres.gold_source import GoldSnapshot, final_states
from tests.property_budget import examples

SCHEMA = pa.schema([pa.field("k", pa.string(), nullable=False), ("v", pa.int64())])
CDF = {"delta.enableChangeDataFeed": "true"}
KEYS = [f"k{i}" for i in range(8)]
_tables = itertools.count()

key_sets = st.sets(st.sampled_from(KEYS), max_size=len(KEYS))
operations = st.one_of(
    st.tuples(st.just("append"), key_sets, st.integers(0, 99)),
    st.tuples(st.just("update"), key_sets, st.integers(0, 99)),
    st.tuples(st.just("delete"), key_sets, st.just(0)),
    st.tuples(st.just("merge"), key_sets, st.integers(0, 99)),
    st.tuples(st.just("overwrite"), key_sets, st.integers(0, 99)),
)


def rows(keys: set[str], value: int) -> pa.Table:
    ordered = sorted(keys)
    return pa.table({"k": ordered, "v": [value + i for i in range(len(ordered))]}, schema=SCHEMA)


def state(uri: str, version: int | None = None) -> dict[str, int]:
    table = DeltaTable(uri, version=version).to_pyarrow_table()
    return dict(zip(table.column("k").to_pylist(), table.column("v").to_pylist(), strict=True))


def apply(uri: str, operation: tuple[str, set[str], int]) -> None:
    kind, keys, value = operation
    table = DeltaTable(uri)
    present = set(state(uri))
    in_list = ", ".join(f"'{k}'" for k in sorted(keys)) or "''"
    if kind == "append":
        if keys - present:
            write_deltalake(uri, rows(keys - present, value), mode="append")
    elif kind == "update":
        table.update(updates={"v": f"v + {value + 1}"}, predicate=f"k IN ({in_list})")
    elif kind == "delete":
        table.delete(f"k IN ({in_list})")
    elif kind == "merge":
        (
            table.merge(rows(keys, value), predicate="t.k = s.k", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    else:
        write_deltalake(uri, rows(keys, value), mode="overwrite")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gold_changes")


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=key_sets, changes=st.lists(operations, min_size=1, max_size=5))
def test_the_feeds_changes_applied_to_the_loaded_version_give_the_pinned_one(
    tables: Path, initial: set[str], changes: list[tuple[str, set[str], int]]
) -> None:
    uri = str(tables / f"t{next(_tables)}")
    write_deltalake(uri, rows(initial, 0), configuration={"delta.enableChangeDataFeed": "true"})
    for operation in changes:
        apply(uri, operation)
    snapshot = GoldSnapshot.latest(uri)
    if snapshot.version == 0:  # nothing changed the table: the loader skips it without reading the feed
        return
    found, reason = snapshot.changes(0, ["k", "v"], ["k"])
    assert found is not None, reason

    served = state(uri, version=0)
    for key in found.removed.column("k").to_pylist():
        served.pop(key, None)
    served.update(zip(found.rows.column("k").to_pylist(), found.rows.column("v").to_pylist(), strict=True))
    assert served == state(uri), f"after {changes}"
    assert found.rows.schema.equals(snapshot.schema()), "the table's own types, as a full load stages them"
    assert set(found.removed.column("k").to_pylist()).isdisjoint(found.rows.column("k").to_pylist())


def test_a_key_deleted_and_written_again_in_one_version_is_written_and_the_last_version_wins() -> None:
    feed = pa.table(
        {
            "k": ["a", "a", "b", "b", "c", "c", "c"],
            "v": [1, 2, 3, 4, 5, 6, 7],
            "_change_type": ["delete", "insert", "insert", "delete", "update_preimage", "update_postimage", "delete"],
            "_commit_version": [2, 2, 1, 3, 1, 1, 4],
        }
    )
    found = final_states(feed, ["k"], SCHEMA)
    assert found.rows.to_pylist() == [{"k": "a", "v": 2}]
    assert sorted(found.removed.column("k").to_pylist()) == ["b", "c"]


def test_a_feed_with_a_null_key_falls_back_to_a_full_load(tmp_path: Path) -> None:
    """A key the feed cannot name (a gold job bug) is no change to apply: the loader reloads the table in full,
    where the repeated/absent key is refused with its rows named."""
    uri = str(tmp_path / "gold")
    nullable = pa.schema([("k", pa.string()), ("v", pa.int64())])
    write_deltalake(uri, pa.table({"k": ["a"], "v": [1]}, schema=nullable), configuration=CDF)
    write_deltalake(uri, pa.table({"k": [None], "v": [2]}, schema=nullable), mode="append")

    changes, reason = GoldSnapshot.latest(uri).changes(0, ["k", "v"], ["k"])

    assert changes is None
    assert reason == "the change data feed of versions 1..1 has rows with a null key ['k']"
