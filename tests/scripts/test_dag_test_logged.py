"""Local DAG runs write each task's log where Airflow's UI reads it and name a failure's cause on the console."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.airflow_local.dag_test_logged import LogRouter, failure_excerpt, read_records

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).parent / "airflow"


def record(event: str, level: str = "info", logger: str = "airflow.task.hooks.SubprocessHook", **extra) -> str:
    return json.dumps({"timestamp": "2026-01-01T00:00:00Z", "level": level, "event": event, "logger": logger, **extra})


def test_the_excerpt_is_the_commands_last_output_then_the_error_and_its_exception():
    lines = [
        record("[DAG TEST] starting task_id=bronze map_index=-1", logger="airflow.sdk.definitions.dag"),
        record("Task started", logger="airflow.api_fastapi.execution_api.routes.task_instances"),
        record("::endgroup::", logger="task"),
        record("Running command: ['/usr/bin/bash', '-c', 'spark-submit ...']"),
        record("Output:"),
        *(record(f"spark line {i}") for i in range(20)),
        record("/usr/bin/bash: line 1: /opt/spark-submit: No such file or directory"),
        record("Command exited with return code 127"),
        record(
            "Task failed with exception",
            level="error",
            logger="task",
            exception=[{"exc_type": "AirflowException", "exc_value": "Bash command failed.", "frames": []}],
        ),
        record("Task instance state updated", logger="airflow.api_fastapi.execution_api.routes.task_instances"),
    ]
    excerpt = failure_excerpt(read_records(lines), lines=4)
    assert excerpt == [
        "spark line 18",
        "spark line 19",
        "/usr/bin/bash: line 1: /opt/spark-submit: No such file or directory",
        "Command exited with return code 127",
        "Task failed with exception",
        "AirflowException: Bash command failed.",
    ]


def test_chained_exceptions_are_listed_outermost_last_and_raw_lines_are_kept():
    chained = [
        {"exc_type": "QualityCheckError", "exc_value": "revenue differs", "frames": []},
        {"exc_type": "KeyError", "exc_value": "'dim_users'", "frames": []},
    ]
    lines = ["a raw print, not JSON", "", record("boom", level="error", logger="task", exception=chained)]
    assert failure_excerpt(read_records(lines)) == [
        "a raw print, not JSON",
        "boom",
        "KeyError: 'dim_users'",
        "QualityCheckError: revenue differs",
    ]


def test_a_spark_jobs_python_traceback_is_shown_without_its_frames_or_the_shutdown_log_after_it():
    output = [
        "26/12/06 22:02:34 INFO SparkContext: Running Spark version 4.0.1",
        "Traceback (most recent call last):",
        '  File "/work/spark/jobs/silver.py", line 90, in <module>',
        "    main()",
        "py4j.protocol.Py4JJavaError: An error occurred while calling o88.save.",
        ": org.apache.hadoop.fs.ParentNotDirectoryException: /lake/silver (is not a directory)",
        "\tat org.apache.hadoop.fs.RawLocalFileSystem.mkdirs(RawLocalFileSystem.java:761)",
        *(f"\tat frame{i}(Frame.java:{i})" for i in range(60)),
        "Caused by: java.io.IOException: parent is a file",
        "\tat org.apache.hadoop.fs.Path.check(Path.java:1)",
        *(f"26/12/06 22:02:4{i} INFO ShutdownHookManager: Deleting directory /tmp/spark-{i}" for i in range(8)),
        "Command exited with return code 1",
    ]
    lines = [
        *(record(line) for line in output),
        record("Task failed with exception", level="error", logger="task"),
    ]
    assert failure_excerpt(read_records(lines), lines=4) == [
        "Traceback (most recent call last):",
        "py4j.protocol.Py4JJavaError: An error occurred while calling o88.save.",
        ": org.apache.hadoop.fs.ParentNotDirectoryException: /lake/silver (is not a directory)",
        "Caused by: java.io.IOException: parent is a file",
        "Command exited with return code 1",
        "Task failed with exception",
    ]


def test_a_log_without_an_error_gives_its_last_lines():
    lines = [record(f"line {i}") for i in range(3)]
    assert failure_excerpt(read_records(lines), lines=2) == ["line 1", "line 2"]


def test_the_router_writes_to_the_current_target_and_falls_back():
    default, task = io.BytesIO(), io.BytesIO()
    router = LogRouter(default)
    router.write(b"loop\n")
    router.target = task
    router.write(b"task\n")
    router.target = router.default
    router.write(b"loop again\n")
    assert default.getvalue() == b"loop\nloop again\n" and task.getvalue() == b"task\n"


TINY_DAG = """
    from datetime import UTC, datetime

    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    with DAG(dag_id="tiny", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), default_args={"retries": 0}):
        hello = BashOperator(task_id="hello", bash_command="echo hello-from-the-task")
        broken = BashOperator(task_id="broken", bash_command="/nonexistent/bin/spark-submit --version")
        after = BashOperator(task_id="after", bash_command="echo never")
        printer = PythonOperator(task_id="printer", python_callable=lambda: print("printed-by-python"))
        hello >> printer >> broken >> after
"""


@pytest.mark.timeout(300)
def test_a_real_dag_run_writes_each_task_log_in_airflows_layout_and_prints_the_cause(tmp_path: Path):
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "tiny.py").write_text(textwrap.dedent(TINY_DAG), encoding="utf-8")
    home = tmp_path / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO),
    }
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.airflow_local.dag_test_logged",
            "tiny",
            "--logical-date",
            "2026-03-04T05:06:07",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    (run_dir,) = (home / "logs" / "dag_id=tiny").glob("run_id=manual__*")
    hello = read_records((run_dir / "task_id=hello" / "attempt=1.log").read_text().splitlines())
    assert "hello-from-the-task" in [r["event"] for r in hello]
    assert all({"timestamp", "level", "event"} <= r.keys() for r in hello)
    assert "printed-by-python" in (run_dir / "task_id=printer" / "attempt=1.log").read_text()
    broken_log = run_dir / "task_id=broken" / "attempt=1.log"
    assert "No such file or directory" in broken_log.read_text()
    assert not (run_dir / "task_id=after").exists()

    assert "hello: running" in run.stdout and "hello: success in" in run.stdout and "broken: failed in" in run.stdout
    for logged in ("hello-from-the-task", "printed-by-python"):
        assert logged not in run.stdout + run.stderr, f"a task's log leaked onto the console: {logged}"
    assert "/nonexistent/bin/spark-submit: No such file or directory" in run.stderr
    assert "Bash command failed" in run.stderr
    assert f"full log: {broken_log}" in run.stderr
    assert "not run because an upstream task failed: after" in run.stderr
