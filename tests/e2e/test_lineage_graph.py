"""The lineage the session's DAG run wrote under <run>/lineage: OpenLineage events from its Airflow tasks and from the
Spark jobs they started join into one graph, from the Kafka topic to each serving table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from config.settings import Settings
from tests.e2e.pipeline_run import PipelineRun

MARTS = ("dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions")
SPARK_TASKS = ("bronze", "silver", "gold")
Dataset = tuple[str, str]


def read_events(folder: Path) -> list[dict[str, Any]]:
    """Every event of every emitter's file, one JSON document a line."""
    files = sorted(folder.glob("*.ndjson"))
    assert files, f"no OpenLineage files in {folder}"
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]


def edges(events: Iterable[dict[str, Any]]) -> set[tuple[Dataset, Dataset]]:
    """(input, output) for every input and output of the same event: what a lineage backend draws."""
    found = set()
    for event in events:
        outputs = [(d["namespace"], d["name"]) for d in event.get("outputs", [])]
        for source in event.get("inputs", []):
            found.update(((source["namespace"], source["name"]), target) for target in outputs)
    return found


def reachable(graph: set[tuple[Dataset, Dataset]], start: Dataset) -> set[Dataset]:
    """Every dataset downstream of `start`, following edges across events (a mart may come from another mart)."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for source, target in graph:
            if source == node and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def missing_paths(graph: set[tuple[Dataset, Dataset]], pairs: Iterable[tuple[Dataset, Dataset]]) -> list:
    return sorted((a, b) for a, b in pairs if b not in reachable(graph, a))


def is_spark(event: dict[str, Any]) -> bool:
    return "/integration/spark" in event.get("producer", "")


def is_airflow(event: dict[str, Any]) -> bool:
    return "/providers/openlineage" in event.get("producer", "") or "apache/airflow" in event.get("producer", "")


def delta(settings: Settings, layer: str, name: str) -> Dataset:
    """A local Delta table as openlineage-spark names it, and as the provider names a file:// Asset."""
    return ("file", settings.storage.table_uri(layer, name))


def serving(settings: Settings, mart: str) -> Dataset:
    """A serving table as the PostgreSQL provider names a postgres:// Asset: host:port, then db.schema.table."""
    uri = urlsplit(settings.airflow.serving_asset_uri)
    return (f"postgres://{uri.netloc}", f"{uri.path.strip('/')}.serving.{mart}")


def topic(settings: Settings) -> Dataset:
    return (f"kafka://{settings.kafka.bootstrap_servers.split(',')[0]}", settings.kafka.topic)


@pytest.fixture
def lineage(pipeline_run: PipelineRun) -> list[dict[str, Any]]:
    assert pipeline_run.dag.returncode == 0, pipeline_run.dag.stdout[-3000:] + pipeline_run.dag.stderr[-3000:]
    return read_events(pipeline_run.run_dir / "lineage")


@pytest.mark.integration
def test_lineage_joins_topic_to_every_serving_table(pipeline_run: PipelineRun, lineage: list[dict[str, Any]]) -> None:
    settings = pipeline_run.settings
    graph = edges(lineage)
    bronze = delta(settings, "bronze", "events")
    expected = {
        (topic(settings), bronze),
        (bronze, delta(settings, "silver", "events")),
        (bronze, delta(settings, "silver", "quarantine")),
    }
    for mart in MARTS:
        expected.add((delta(settings, "silver", "events"), delta(settings, "gold", mart)))
        expected.add((delta(settings, "gold", mart), serving(settings, mart)))
    missing = missing_paths(graph, expected)
    assert not missing, f"no path in {len(lineage)} events for: {missing}\nedges: {sorted(graph)}"


@pytest.mark.integration
def test_spark_jobs_report_their_own_datasets(pipeline_run: PipelineRun, lineage: list[dict[str, Any]]) -> None:
    """The listener, not only the DAG's declared inlets and outlets, sees the topic, the layers and every mart
    (fct_funnel_daily is built from fct_sessions, so it is reached through it)."""
    settings = pipeline_run.settings
    spark = edges(e for e in lineage if is_spark(e))
    assert (topic(settings), delta(settings, "bronze", "events")) in spark
    silver_outputs = {target for source, target in spark if source == delta(settings, "bronze", "events")}
    assert delta(settings, "silver", "quarantine") in silver_outputs
    marts = reachable(spark, delta(settings, "silver", "events"))
    assert {delta(settings, "gold", mart) for mart in MARTS} <= marts


@pytest.mark.integration
def test_each_spark_application_is_a_child_of_its_airflow_task_run(lineage: list[dict[str, Any]]) -> None:
    """The parent facet the provider's macros injected names the task's own OpenLineage run, so a backend nests
    the Spark jobs under the Airflow task and the DAG run."""
    task_runs: dict[str, set[str]] = {}
    dag_runs = set()
    for event in lineage:
        name = event["job"]["name"]
        if is_airflow(event) and name.startswith("lakehouse_pipeline."):
            task_runs.setdefault(name.removeprefix("lakehouse_pipeline."), set()).add(event["run"]["runId"])
            parent = event["run"]["facets"]["parent"]
            if parent["job"]["name"] == "lakehouse_pipeline":
                dag_runs.add(parent["run"]["runId"])
    assert set(SPARK_TASKS) <= set(task_runs), f"Airflow task events: {sorted(task_runs)}"
    assert len(dag_runs) == 1, f"Airflow task events name {len(dag_runs)} DAG runs as parent"
    parents: dict[str, set[str]] = {}
    for event in (e for e in lineage if is_spark(e)):
        parent = event["run"]["facets"].get("parent")
        assert parent, f"Spark event without a parent: {event['job']['name']}"
        parents.setdefault(parent["job"]["name"], set()).add(parent["run"]["runId"])
        assert parent["root"]["run"]["runId"] in dag_runs, f"{event['job']['name']}: root {parent['root']}"
    for task in SPARK_TASKS:
        job = f"lakehouse_pipeline.{task}"
        assert job in parents, f"no Spark event names {job} as its parent: {sorted(parents)}"
        assert parents[job] <= task_runs[task], f"{job}: Spark parents {parents[job]}, task runs {task_runs[task]}"
