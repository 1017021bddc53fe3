"""Code run in fresh interpreters: a DagBag report, and one DAG file's import time once Airflow is warm."""

DAGBAG_REPORT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

folder = {folder!r}
bag = DagBag(dag_folder=folder, bundle_path=folder)
report = {{"errors": dict(bag.import_errors), "dags": {{}}}}
for dag in bag.dags.values():
    dag.check_cycle()
    report["dags"][dag.dag_id] = {{
        "fileloc": dag.fileloc,
        "schedule": str(dag.schedule),
        "start_date": dag.start_date.isoformat(),
        "timezone": str(dag.start_date.tzinfo),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "params": dag.params.dump(),
        "tasks": {{
            t.task_id: {{
                "type": type(t).__name__,
                "retries": t.retries,
                "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "backoff": t.retry_exponential_backoff,
                "max_retry_delay_s": t.max_retry_delay.total_seconds() if t.max_retry_delay else None,
                "failure_callback": bool(t.on_failure_callback),
                "upstream": sorted(t.upstream_task_ids),
                "outlets": sorted(a.uri for a in t.outlets),
                "command": getattr(t, "bash_command", None),
            }}
            for t in dag.tasks
        }},
    }}
report["heavy_modules"] = sorted(
    m for m in sys.modules if m.split(".")[0] in ("pyspark", "spark", "delta", "deltalake", "kafka", "py4j")
)
print("REPORT" + json.dumps(report))
"""

IMPORT_TIME = """
import importlib.util, json, time
import yaml
from airflow.sdk import DAG, Asset, TaskGroup
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator

Asset(name="warm", uri="postgres://warm:5432/db/s/t")  # provider URI handlers: loaded once per DAG processor
started = time.process_time()  # CPU seconds: the cost of the import, whatever else shares the machine's cores
spec = importlib.util.spec_from_file_location("dag_under_test", {path!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("SECONDS" + json.dumps(time.process_time() - started))
"""


def parse_marked(stdout: str, marker: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith(marker)]
    assert lines, f"no {marker} line in the subprocess output:\n{stdout[-3000:]}"
    return lines[-1].removeprefix(marker)
