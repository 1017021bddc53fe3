"""Usage: python -m scripts.run_dag_local [--config PATH] [--dag lakehouse_pipeline] [--date YYYY-MM-DD]
                                       [--airflow-home DIR]

Runs one DAG end to end on this machine with `airflow dags test` (no scheduler): AIRFLOW_HOME is
--airflow-home (default .local/airflow), the DAG folder is dags/, and the Postgres connection comes from the
config's DSN through AIRFLOW_CONN_<ID> in the environment, so no secret is written to a file. Exits non-zero
if any task fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from config.settings import CONFIG_ENV_VAR, ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / ".local" / "airflow"
AIRFLOW = Path(sys.executable).parent / "airflow"


QUIET_AIRFLOW_WARNINGS = (
    "ignore:Could not import graphviz:UserWarning",
    "ignore:GitWildMatchPattern:DeprecationWarning",
)
"""Airflow's own warnings about optional graph rendering and a deprecated pathspec name: noise in every run."""


def airflow_env(config: Path, home: Path = AIRFLOW_HOME) -> dict[str, str]:
    """The environment every airflow command gets: home, DAG folder, config, and the Postgres connection."""
    settings = load_settings(config)
    if settings.airflow is None:
        raise ConfigError(f"{config}: missing key 'airflow': add the section from config/local.yml")
    conn_var = "AIRFLOW_CONN_" + settings.airflow.postgres_conn_id.upper()
    paths = [str(ROOT), str(ROOT / "dags"), os.environ.get("PYTHONPATH", "")]
    warnings = [os.environ.get("PYTHONWARNINGS", ""), *QUIET_AIRFLOW_WARNINGS]
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "PYTHONWARNINGS": ",".join(w for w in warnings if w),
        CONFIG_ENV_VAR: str(config.resolve()),
        conn_var: settings.postgres_dsn(),
    }


def run(argv: list[str], env: dict[str, str]) -> int:
    print("+ " + " ".join(argv), flush=True)
    return subprocess.run(argv, env=env, cwd=ROOT, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.run_dag_local", description=__doc__.splitlines()[3])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "local.yml")
    parser.add_argument("--dag", default="lakehouse_pipeline", help="DAG id (default lakehouse_pipeline)")
    parser.add_argument("--date", default=datetime.now(UTC).date().isoformat(), help="logical date (default today)")
    parser.add_argument(
        "--airflow-home", type=Path, default=AIRFLOW_HOME, help="AIRFLOW_HOME, created and migrated if new"
    )
    args = parser.parse_args(argv)
    home = args.airflow_home.resolve()
    try:
        env = airflow_env(args.config, home)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    runner = load_settings(args.config).airflow.runner
    archive = ROOT / runner.artifacts.archive_uri
    if runner.kind == "local" and not archive.is_file():
        print(
            f"error: {archive} (airflow.runner.artifacts.archive_uri) is missing: run `make spark-archive`",
            file=sys.stderr,
        )
        return 1
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "airflow.db").is_file():
        code = run([str(AIRFLOW), "db", "migrate"], env)
        if code:
            print(f"error: `airflow db migrate` failed (exit {code}) in {home}", file=sys.stderr)
            return code
    code = run([str(AIRFLOW), "dags", "test", args.dag, args.date], env)
    if code:
        print(f"error: DAG {args.dag} failed for {args.date} (exit {code}); task logs: {home}/logs")
    return code


if __name__ == "__main__":
    sys.exit(main())
