"""What the end-to-end tests share: the record of the session's one DAG run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

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
