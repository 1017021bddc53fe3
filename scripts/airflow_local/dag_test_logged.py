"""Usage: python -m scripts.airflow_local.dag_test_logged DAG_ID [--logical-date ISO-8601]

`airflow dags test` with task logs. Airflow 3.3's `dags test` runs every task inside its own process and sends
the task's log to that process's console, so no log file exists for the UI or the API to serve. This runs the
same `DAG.test()` loop, but writes each task try's log, as Airflow's JSON lines, to the file its UI and REST API
read (base_log_folder / log_filename_template), and the loop's own log to logs/dag_test.log; the console gets
one line per task state change, and on failure each failed task's last lines and the full log's path.
Run it with AIRFLOW_HOME and the DAG folder set (scripts.airflow_local.run_dag does).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

EXCERPT_LINES = 12
LOOP_LOG = "dag_test.log"
MACHINERY_LOGGERS = ("airflow.api_fastapi.", "airflow.sdk.definitions.dag")
"""Airflow's own bookkeeping in every task log (state updates, the test loop's markers): never the cause."""
TRACEBACK = "Traceback (most recent call last):"
SPARK_LOG_LINE = re.compile(r"\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} [A-Z]+ ")
PREAMBLE = ("::group::", "::endgroup::", "Tmp dir root location", "Running command:", "Output:", "Pushing xcom")
ERROR_LEVELS = ("error", "critical")


class LogRouter:
    """Binary sink for Airflow's JSON log lines: the running task's log file, else the loop's own log."""

    def __init__(self, default: BinaryIO) -> None:
        self.default = default
        self.target = default

    def write(self, data: bytes) -> int:
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


class PrintedText(io.TextIOBase):
    """sys.stdout and sys.stderr during a task: what task code prints goes to the task's log, as plain lines."""

    def __init__(self, router: LogRouter) -> None:
        self.router = router

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.router.write(text.encode("utf-8", errors="replace"))
        return len(text)


def read_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Airflow's JSON log lines as dicts; a line that is not JSON (a raw print) is kept as its event text."""
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = {"event": line.rstrip("\n")}
        records.append(record if isinstance(record, dict) else {"event": str(record)})
    return records


def _is_error(record: dict[str, Any]) -> bool:
    return str(record.get("level", "")).lower() in ERROR_LEVELS


def _says_something(record: dict[str, Any]) -> bool:
    event = str(record.get("event", "")).strip()
    return (
        bool(event)
        and not event.startswith(PREAMBLE)
        and not str(record.get("logger", "")).startswith(MACHINERY_LOGGERS)
    )


def _exception_lines(record: dict[str, Any]) -> list[str]:
    """`Type: value` of each exception in a record's structured traceback, the outermost last."""
    return [
        f"{exc.get('exc_type', 'Exception')}: {exc.get('exc_value', '')}".rstrip(": ")
        for exc in reversed(record.get("exception") or [])
        if isinstance(exc, dict)
    ]


def _command_output(said: list[str], lines: int) -> list[str]:
    """The last `lines` lines; but when the output holds a Python traceback (a Spark job's own failure, a Java
    exception wrapped by Py4J), that traceback's unindented lines, the header and each exception without their
    frames, and the output's last line: the JVM's shutdown log after a traceback would push the cause out."""
    start = next((i for i in reversed(range(len(said))) if said[i].startswith(TRACEBACK)), None)
    if start is None:
        return said[-lines:]
    end = next((i for i in range(start + 1, len(said)) if SPARK_LOG_LINE.match(said[i])), len(said))
    cause = [line for line in said[start:end] if line and not line[0].isspace()]
    cause = cause[:1] + cause[1:][-lines:]
    return cause if end == len(said) else [*cause, said[-1]]


def failure_excerpt(records: list[dict[str, Any]], lines: int = EXCERPT_LINES) -> list[str]:
    """What an operator needs from a failed try's log: what the task itself logged before its first error (a
    command's output: `spark-submit: No such file or directory`, a Spark job's traceback), then each error and
    its exceptions."""
    first_error = next((i for i, r in enumerate(records) if _is_error(r)), len(records))
    excerpt = _command_output([str(r["event"]).rstrip() for r in records[:first_error] if _says_something(r)], lines)
    for record in records[first_error:]:
        if _is_error(record):
            excerpt.append(str(record.get("event", "")).rstrip())
            excerpt += _exception_lines(record)
    return excerpt


def state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


def say(text: str) -> None:
    print(f"  {datetime.now(UTC):%H:%M:%S}  {text}", flush=True)


def route_logs(router: LogRouter, level: str) -> None:
    """Send all of Airflow's structured and stdlib logging, as JSON lines at `level`, through `router`."""
    from airflow.sdk.log import configure_logging

    configure_logging.cache_clear()
    configure_logging(json_output=True, log_level=level, output=router, colored_console_log=False)


def task_log_writer(run_task: Callable[..., Any], router: LogRouter) -> Callable[..., Any]:
    """Wrap DAG.test's per-task runner so that each try logs to its own file and shows on the console."""
    from airflow.sdk.log import init_log_file
    from airflow.utils.helpers import log_filename_template_renderer

    render = log_filename_template_renderer()

    def run_logged(*, ti: Any, task: Any, **kwargs: Any) -> Any:
        path = init_log_file(render(ti=ti))
        label = ti.task_id if ti.try_number <= 1 else f"{ti.task_id} (try {ti.try_number})"
        say(f"{label}: running")
        started = time.monotonic()
        printed = PrintedText(router)
        try:
            with path.open("ab") as log_file, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                router.target = log_file
                try:
                    return run_task(ti=ti, task=task, **kwargs)
                finally:
                    router.flush()
                    router.target = router.default
        finally:
            say(f"{label}: {state_name(ti.state)} in {time.monotonic() - started:,.1f} s")

    return run_logged


def log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []


def print_excerpt(title: str, path: Path) -> None:
    print(f"\n{title}; last lines of its log:", file=sys.stderr)
    for line in failure_excerpt(read_records(log_lines(path))) or ["(the log is empty)"]:
        print(f"    {line}", file=sys.stderr)
    print(f"  full log: {path}", file=sys.stderr)


def report_failures(dag_run: Any, base_log_folder: Path) -> None:
    """Each failed task's last lines and log path, and the tasks that did not run because of it."""
    from airflow.utils.helpers import log_filename_template_renderer

    render = log_filename_template_renderer()
    tis = sorted(dag_run.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date or 0))
    for ti in (t for t in tis if state_name(t.state) == "failed"):
        print_excerpt(f"task {ti.task_id} failed (try {ti.try_number})", base_log_folder / render(ti=ti))
    not_run = [t.task_id for t in tis if state_name(t.state) == "upstream_failed"]
    if not_run:
        print(f"not run because an upstream task failed: {', '.join(not_run)}", file=sys.stderr)


def run(dag_id: str, logical_date: datetime | None, base_log_folder: Path, router: LogRouter) -> int:
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.definitions import dag as dag_module
    from airflow.utils.cli import get_bagged_dag

    route_logs(router, conf.get("logging", "logging_level", fallback="INFO"))
    ProvidersManager().initialize_providers_configuration()
    dag = get_bagged_dag(None, dag_id)
    dag_module._run_task = task_log_writer(dag_module._run_task, router)
    dag_run = dag.test(logical_date=logical_date or datetime.now(UTC))  # after parsing: the run starts now
    router.flush()
    if state_name(dag_run.state) == "success":
        return 0
    report_failures(dag_run, base_log_folder)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.airflow_local.dag_test_logged", description=__doc__.splitlines()[2]
    )
    parser.add_argument("dag_id")
    parser.add_argument(
        "--logical-date",
        type=datetime.fromisoformat,
        default=None,
        help="ISO-8601 date or time, UTC unless it says otherwise (default now, so the run's duration is real)",
    )
    args = parser.parse_args(argv)
    logical_date = args.logical_date
    if logical_date is not None and logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)

    from airflow.configuration import conf

    base_log_folder = Path(conf.get("logging", "base_log_folder"))
    base_log_folder.mkdir(parents=True, exist_ok=True)
    loop_log = base_log_folder / LOOP_LOG
    with loop_log.open("ab") as loop_file:
        router = LogRouter(loop_file)
        try:
            return run(args.dag_id, logical_date, base_log_folder, router)
        except Exception as exc:
            router.flush()
            print(f"error: DAG {args.dag_id} did not run: {type(exc).__name__}: {exc}", file=sys.stderr)
            print_excerpt("the test loop stopped", loop_log)
            return 1


if __name__ == "__main__":
    sys.exit(main())
