"""A local DAG run that fails names its cause on the console: the failing task's own last lines (the real
exception, not only `exit code 127`) and the path of its full log, which exists where Airflow's UI reads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from scripts.packaging.spark_archive import build_archive
from scripts.stack.postgres_server import scratch_database
from scripts.stack.services import StackInfo
from tests.e2e.pipeline_run import run_dag

REPO = Path(__file__).resolve().parents[2]
MISSING = "/nonexistent/spark/bin/spark-submit"


def broken_config(tmp_path: Path) -> Path:
    """config/local.yml with a runner whose spark-submit does not exist, and no retries (a retry waits 60 s)."""
    config = yaml.safe_load((REPO / "config" / "local.yml").read_text(encoding="utf-8"))
    config["airflow"]["runner"]["local"]["spark_submit"] = MISSING
    config["airflow"]["retries"] = 0
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_missing_spark_submit_fails_the_run_with_the_cause_and_the_log_path(stack: StackInfo, tmp_path: Path):
    config = broken_config(tmp_path)
    home = tmp_path / "airflow"
    with scratch_database(stack.postgres_dsn) as dsn:
        isolation = {
            "LAKEHOUSE_POSTGRES_DSN": dsn,
            "LAKEHOUSE_TOPIC": "e2e-never-read",
            "LAKEHOUSE_LAKE_URI": str(tmp_path / "lake"),
            "LAKEHOUSE_CHECKPOINT_URI": str(tmp_path / "lake" / "_checkpoints"),
        }
        build_archive(REPO / ".local" / "dist" / "lakehouse.zip")
        run = run_dag(config, home, isolation)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "bronze: failed in" in run.stdout, run.stdout
    assert f"{MISSING}: No such file or directory" in run.stderr, run.stderr
    assert "Bash command failed. The command returned a non-zero exit code 127." in run.stderr
    logs = re.findall(r"full log: (\S+attempt=1\.log)", run.stderr)
    assert logs and all("task_id=bronze" in log for log in logs), run.stderr
    assert MISSING in Path(logs[0]).read_text(encoding="utf-8")
    assert Path(logs[0]).is_relative_to(home / "logs")
    assert "not run because an upstream task failed:" in run.stderr and "silver" in run.stderr
    assert "\x1b[" not in output, "colour codes in the console output"
