"""What the end-to-end tests share: the record of the session's one DAG run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from config.settings import Settings
from kafka.produce import ProduceRun


@dataclass(frozen=True)
class PipelineRun:
    """What the shared DAG run left: its settings, the environment variables that isolate it (the DSN is read
    from the environment at each use), its folder, the producer's run, the DAG's exit code and output."""

    settings: Settings
    isolation: dict[str, str]
    run_dir: Path
    airflow_home: Path
    produced: ProduceRun
    dag: subprocess.CompletedProcess[str]


def gold_rows(settings: Settings, mart: str) -> tuple[list[str], list[dict[str, Any]]]:
    """A gold table's columns and rows (delta-rs), ordered by its first column."""
    table = DeltaTable(settings.storage.table_uri("gold", mart)).to_pyarrow_table()
    rows = table.to_pylist()
    return table.column_names, sorted(rows, key=lambda r: r[table.column_names[0]])


def run_dag(config: Path, airflow_home: Path, isolation: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """lakehouse_pipeline run once by scripts.airflow_local.run_dag with `config`, isolated by `isolation`'s
    variables."""
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.airflow_local.run_dag",
            "--config",
            str(config),
            "--airflow-home",
            str(airflow_home),
        ],
        cwd=repo,
        env={**os.environ, **isolation, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=False,
    )
