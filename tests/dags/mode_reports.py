"""The operability report of the DAG folder for a config in a given airflow.mode, parsed once per session."""

from __future__ import annotations

import json
from pathlib import Path

from dag_probe import parse_marked
from operability_probe import OPERABILITY_REPORT

from tests.dags.dag_configs import DAGS, REPO, run_python

_REPORTS: dict[tuple[str, str], dict] = {}


def config_in_mode(config: str, mode: str, folder: Path) -> Path:
    """A copy of config/<config> with airflow.mode set to `mode` (relative paths still mean the repo's)."""
    text = (REPO / "config" / config).read_text(encoding="utf-8")
    assert text.count("\n  mode: batch ") == 1, f"config/{config} has no single 'airflow.mode: batch' line"
    path = folder / f"{mode}-{config}"
    path.write_text(text.replace("\n  mode: batch ", f"\n  mode: {mode} "), encoding="utf-8")
    return path


def mode_report(config: str, mode: str, airflow_home: Path, folder: Path) -> dict:
    key = (config, mode)
    if key not in _REPORTS:
        result = run_python(
            OPERABILITY_REPORT.format(folder=str(DAGS)),
            pythonpath=[REPO, DAGS],
            cwd=folder,
            env={"AIRFLOW_HOME": str(airflow_home), "LAKEHOUSE_CONFIG": str(config_in_mode(config, mode, folder))},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        _REPORTS[key] = json.loads(parse_marked(result.stdout, "REPORT"))
    return _REPORTS[key]
