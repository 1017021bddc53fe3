"""Streaming mode: silver's commits (made outside Airflow) become asset events that run gold -> serving -> checks,
and maintenance never runs beside a writer or a check, in any interleaving the scheduler may choose."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from mode_reports import mode_report

from tests.dags.dag_configs import REPO

LAKE = (REPO / ".local" / "lake").resolve()
MARTS = ["dim_products", "dim_users", "fct_funnel_daily", "fct_purchases_daily", "fct_sessions"]


@pytest.fixture(scope="module")
def reports(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("modes")
    return lambda mode: mode_report("local.yml", mode, airflow_home, folder)


def test_streaming_dag_runs_on_silver_commits_and_the_maintenance_cron(reports) -> None:
    dag = reports("streaming")["dags"]["lakehouse_streaming"]
    assert dag["timetable"] == "AssetOrTimeSchedule"
    assert dag["cron"] == "0 3 * * 0"
    assert dag["assets"] == [
        {
            "name": f"{layer}.events",
            "uri": f"file://{LAKE}/{layer}/events",
            "watchers": [
                [
                    f"{layer}_events_commits",
                    "lakehouse_dags.triggers.DeltaCommitTrigger",
                    {"uri": f"{LAKE}/{layer}/events", "poll_s": 30},
                ]
            ],
        }
        for layer in ("bronze", "silver")
    ]
    assert dag["starts_run"] == [
        [[], False],
        [["bronze.events"], False],
        [["silver.events"], True],
        [["bronze.events", "silver.events"], True],
    ], "silver's commits, and only they, start a run; bronze's are watched (recorded) without starting one"
    batch = reports("batch")["dags"]["lakehouse_pipeline"]["tasks"]
    assert f"file://{LAKE}/silver/events" in batch["silver"]["outlets"], "both modes name silver.events alike"


def test_streaming_dag_has_no_stream_tasks_and_ends_with_maintenance(reports) -> None:
    tasks = reports("streaming")["dags"]["lakehouse_streaming"]["tasks"]
    checks = sorted(t for t in tasks if t.startswith("quality."))
    assert len(checks) == 8
    assert set(tasks) == {"gold", "gold_scala", "migrate", "load_serving", "maintenance_due", "maintenance", *checks}
    assert tasks["gold"]["upstream"] == [] and tasks["gold_scala"]["upstream"] == ["gold"]
    assert tasks["load_serving"]["upstream"] == ["gold_scala", "migrate"]
    assert all(tasks[t]["upstream"] == ["load_serving"] for t in checks)
    assert tasks["maintenance_due"]["upstream"] == checks
    assert tasks["maintenance"]["upstream"] == ["maintenance_due"]
    assert tasks["gold"]["outlets"] == [f"file://{LAKE}/gold/{t}" for t in MARTS if t != "fct_purchases_daily"]
    assert tasks["gold_scala"]["outlets"] == [f"file://{LAKE}/gold/fct_purchases_daily"]
    assert tasks["load_serving"]["outlets"] == [f"postgres://127.0.0.1:5433/lakehouse/serving/{t}" for t in MARTS]
    assert all(tasks[t]["retry_on_failure"] is False for t in checks if "keys_not_null" in t)
    assert all(tasks[t]["wrapped"] for t in checks if "keys_not_null" not in t)


def representatives(tasks: dict) -> dict:
    """One task per class of tasks with the same upstream and downstream tasks (the eight parallel checks are one
    class): interchangeable tasks can run beside the same tasks, and exploring one keeps the search small."""
    downstream = {name: sorted(n for n, t in tasks.items() if name in t["upstream"]) for name in tasks}
    keep: dict[tuple, str] = {}
    for name in sorted(tasks):
        keep.setdefault((tuple(tasks[name]["upstream"]), tuple(downstream[name])), name)
    chosen = set(keep.values())
    return {name: {"upstream": [u for u in tasks[name]["upstream"] if u in chosen]} for name in chosen}


def concurrent_pairs(tasks: dict, max_active_runs: int, guarded: str, runs: int = 2) -> set[tuple[str, str]]:
    """Every (guarded, other) pair that can be running at once, over every interleaving of `runs` DAG runs that
    the scheduler may choose: a task starts once its upstream tasks are done, and a run starts only while fewer
    than max_active_runs earlier runs are unfinished. States are explored exhaustively (bit masks per run)."""
    tasks = representatives(tasks)
    names = sorted(tasks)
    bit = {name: 1 << i for i, name in enumerate(names)}
    upstream = [sum(bit[u] for u in tasks[name]["upstream"]) for name in names]
    everything = (1 << len(names)) - 1
    start = tuple((0, 0) for _ in range(runs))
    seen, pending, found = {start}, [start], set()
    while pending:
        state = pending.pop()
        running = [(r, names[i]) for r, (_, run) in enumerate(state) for i in range(len(names)) if run >> i & 1]
        for r, name in running:
            if name == guarded:
                found |= {
                    (guarded, f"{other}@run{o - r:+d}" if o != r else other)
                    for o, other in running
                    if other != name or o != r
                }
        unfinished = [r for r, (done, _) in enumerate(state) if done != everything]
        active = set(unfinished[:max_active_runs])
        for r in active:
            done, run = state[r]
            for i, name in enumerate(names):
                step = None
                if run >> i & 1:
                    step = (done | bit[name], run & ~bit[name])
                elif not (done >> i & 1) and upstream[i] & done == upstream[i]:
                    step = (done, run | bit[name])
                if step is not None:
                    following = state[:r] + (step,) + state[r + 1 :]
                    if following not in seen:
                        seen.add(following)
                        pending.append(following)
    return found


@pytest.mark.parametrize("mode", ["batch", "streaming"])
def test_maintenance_never_runs_beside_a_writer_or_a_check(reports, mode: str) -> None:
    """Only one DAG exists per mode, every task needs all of its upstream to succeed, and with max_active_runs=1
    no interleaving of two consecutive runs puts maintenance beside another task (the streams outside Airflow
    append only, which Delta never conflicts with OPTIMIZE or VACUUM)."""
    report = reports(mode)
    (dag,) = report["dags"].values()
    assert {t["trigger_rule"] for t in dag["tasks"].values()} == {"all_success"}
    assert concurrent_pairs(dag["tasks"], dag["max_active_runs"], "maintenance") == set()


def test_the_interleaving_check_finds_a_maintenance_wired_too_early_or_runs_in_parallel(reports) -> None:
    tasks = reports("streaming")["dags"]["lakehouse_streaming"]["tasks"]
    early = {name: dict(task) for name, task in tasks.items()}
    early["maintenance_due"]["upstream"] = ["gold"]
    found = concurrent_pairs(early, 1, "maintenance")
    assert ("maintenance", "load_serving") in found and ("maintenance", "quality.keys_not_null_dim_products") in found
    assert ("maintenance", "gold@run+1") in concurrent_pairs(tasks, 2, "maintenance")


def test_data_versions_leave_out_maintenance_commits() -> None:
    from lakehouse_dags.triggers import data_versions

    history = [
        {"version": 7, "operation": "VACUUM END"},
        {"version": 6, "operation": "VACUUM START"},
        {"version": 5, "operation": "OPTIMIZE"},
        {"version": 4, "operation": "STREAMING UPDATE"},
        {"version": 3, "operation": "WRITE"},
        {"version": 2, "operation": "SET TBLPROPERTIES"},
    ]
    assert data_versions(history, 2) == [3, 4]
    assert data_versions(history, 4) == []
    assert data_versions([{"version": 9, "operation": "SOMETHING NEW"}], 8) == [9]


def test_data_versions_leave_out_appends_of_no_rows_but_not_an_empty_overwrite() -> None:
    from lakehouse_dags.triggers import data_versions

    def write(version: int, rows: int, mode: str = "Append") -> dict:
        return {
            "version": version,
            "operation": "WRITE",
            "operationParameters": {"mode": mode},
            "operationMetrics": {"numFiles": str(min(rows, 1)), "numOutputRows": str(rows)},
        }

    history = [write(4, 0), write(3, 12), write(2, 0, mode="Overwrite"), write(1, 0)]
    assert data_versions(history, 0) == [2, 3]
    assert data_versions([{"version": 5, "operation": "WRITE"}], 4) == [5], "no metrics: assume rows changed"


class _StateStore:
    """The asset state store the triggerer injects into a watcher's trigger, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict = {}

    async def aget(self, key: str, default=None):
        return self.values.get(key, default)

    async def aset(self, key: str, value) -> None:
        self.values[key] = value


def _append(uri: str, n: int) -> None:
    write_deltalake(uri, pa.table({"event_id": [f"e{n}"]}), mode="append")


async def _watch(uri: str, store: _StateStore, events: list, seconds: float, during=None) -> None:
    """Run the trigger as the triggerer does for `seconds`, calling `during()` once it is polling."""
    from lakehouse_dags.triggers import DeltaCommitTrigger

    trigger = DeltaCommitTrigger(uri=uri, poll_s=0.05)
    trigger.asset_state_store = store

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    if during:
        await asyncio.to_thread(during)
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_watcher_fires_per_data_commit_and_survives_a_triggerer_restart(tmp_path) -> None:
    uri = str(tmp_path / "silver" / "events")
    store, events = _StateStore(), []
    asyncio.run(_watch(uri, store, events, 0.3))
    assert events == [], "no table yet: nothing to run"

    _append(uri, 0)
    asyncio.run(_watch(uri, store, events, 0.5, during=lambda: (_append(uri, 1), _append(uri, 2))))
    assert events[0] == {"uri": uri, "delta_version": 0, "data_versions": [0]}, "first sight: gold may have work"
    assert events[-1]["delta_version"] == 2 and sorted({v for e in events[1:] for v in e["data_versions"]}) == [1, 2]
    assert store.values == {"delta_version": 2}

    fired = len(events)
    asyncio.run(_watch(uri, store, events, 0.5, during=lambda: DeltaTable(uri).optimize.compact()))
    assert len(events) == fired, "a restart does not repeat version 2, and OPTIMIZE is not new data"
    assert store.values == {"delta_version": 3}

    _append(uri, 3)
    started = time.monotonic()
    asyncio.run(_watch(uri, store, events, 0.3))
    assert events[-1] == {"uri": uri, "delta_version": 4, "data_versions": [4]}, "a commit made while it was down"
    assert time.monotonic() - started < 5


def _empty_append(uri: str) -> None:
    write_deltalake(uri, pa.table({"event_id": pa.array([], pa.string())}), mode="append")


def test_the_first_look_at_a_table_with_no_rows_yet_starts_no_run(tmp_path) -> None:
    """Silver as the stream leaves it before its first rows: created, then an empty micro-batch's commit."""
    uri = str(tmp_path / "silver" / "events")
    DeltaTable.create(uri, pa.schema([("event_id", pa.string())]))
    _empty_append(uri)
    store, events = _StateStore(), []
    asyncio.run(_watch(uri, store, events, 0.5, during=lambda: _append(uri, 2)))
    assert events == [{"uri": uri, "delta_version": 2, "data_versions": [2]}], "only the commit with rows"
    assert store.values == {"delta_version": 2}


def test_the_first_look_finds_rows_before_empty_commits_and_assumes_rows_past_its_window(tmp_path, monkeypatch) -> None:
    from lakehouse_dags import triggers

    uri = str(tmp_path / "silver" / "events")
    DeltaTable.create(uri, pa.schema([("event_id", pa.string())]))
    _append(uri, 1)
    _empty_append(uri)
    assert triggers.new_data(uri, None) == (2, [1]), "rows committed before the watcher's first look"
    _empty_append(uri)
    monkeypatch.setattr(triggers, "FIRST_LOOK_VERSIONS", 2)
    assert triggers.new_data(uri, None) == (3, [3]), "history older than the window may hold rows"


def test_a_commit_landing_while_the_watcher_reads_the_log_does_not_hide_one_with_rows(tmp_path, monkeypatch) -> None:
    """deltalake numbers history down from the version it loaded but lists every commit in the log: an empty
    micro-batch committing in between shifted each number by one and put version 1's rows behind `seen`."""
    import deltalake

    from lakehouse_dags import triggers

    uri = str(tmp_path / "silver" / "events")
    DeltaTable.create(uri, pa.schema([("event_id", pa.string())]))
    _append(uri, 1)
    racing = [lambda: _empty_append(uri)]

    class Racing(DeltaTable):
        def version(self) -> int:
            loaded = super().version()
            while racing:
                racing.pop()()
            return loaded

    monkeypatch.setattr(deltalake, "DeltaTable", Racing)
    assert triggers.new_data(uri, 0) == (2, [1])

    class AlwaysRacing(DeltaTable):
        def version(self) -> int:
            loaded = super().version()
            _empty_append(uri)
            return loaded

    monkeypatch.setattr(deltalake, "DeltaTable", AlwaysRacing)
    current, versions = triggers.new_data(uri, 1)
    assert current > 2 and versions == [current], "a table that never holds still: its version stands for the rest"

    class Vanishing(DeltaTable):
        def version(self) -> int:
            loaded = super().version()
            shutil.rmtree(uri)
            return loaded

    monkeypatch.setattr(deltalake, "DeltaTable", Vanishing)
    assert triggers.new_data(uri, 1) == (None, []), "deleted while read: no table, as on the next poll"


def test_rows_whose_log_files_were_cleaned_up_still_start_a_run(tmp_path) -> None:
    """After a checkpoint and log retention, the history holds only the newest commits: the watcher cannot see
    whether the others added rows, so it assumes they did."""
    from lakehouse_dags import triggers

    uri = tmp_path / "silver" / "events"
    DeltaTable.create(str(uri), pa.schema([("event_id", pa.string())]))
    for n in range(3):
        _append(str(uri), n)
    for _ in range(3):
        _empty_append(str(uri))
    DeltaTable(str(uri)).create_checkpoint()
    for version in range(6):
        (uri / "_delta_log" / f"{version:020d}.json").unlink()
    assert DeltaTable(str(uri)).to_pyarrow_table().num_rows == 3
    assert triggers.new_data(str(uri), None) == (6, [6]), "the first look"
    assert triggers.new_data(str(uri), 2) == (6, [6]), "a watcher that was down while the log was cleaned"
    assert triggers.new_data(str(uri), 5) == (6, []), "the one commit since is read and added no rows"


def test_the_triggerer_can_rebuild_the_trigger_from_its_serialized_form() -> None:
    """The triggerer imports the classpath and calls it with the kwargs: both must round-trip."""
    from airflow._shared.module_loading import import_string

    from lakehouse_dags.triggers import DeltaCommitTrigger

    classpath, kwargs = DeltaCommitTrigger(uri="gs://b/lake/silver/events", poll_s=60).serialize()
    rebuilt = import_string(classpath)(**kwargs)
    assert type(rebuilt) is DeltaCommitTrigger
    assert rebuilt.serialize() == (classpath, {"uri": "gs://b/lake/silver/events", "poll_s": 60})
