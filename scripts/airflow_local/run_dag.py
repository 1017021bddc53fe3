"""Usage: python -m scripts.airflow_local.run_dag [--config PATH] [--dag lakehouse_pipeline] [--date ISO-8601]
                                                [--airflow-home DIR]

Runs one DAG end to end on this machine like `airflow dags test` (no scheduler;
scripts.airflow_local.dag_test_logged, which also writes each task's log where Airflow's UI reads it):
AIRFLOW_HOME is --airflow-home (default .local/airflow), whose airflow.cfg is pinned to the DAG folder dags/
without Airflow's examples so that a UI started on it later shows this project's DAGs, and the Postgres
connection comes from the config's DSN through AIRFLOW_CONN_<ID> in the environment, so no secret is written to
a file. Prints a line per task state change; exits non-zero if any task fails, after printing the failed task's
last log lines and the log's path.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from config.settings import CONFIG_ENV_VAR, ConfigError, config_path, load_settings

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = ROOT / ".local" / "airflow"
AIRFLOW = Path(sys.executable).parent / "airflow"


QUIET_AIRFLOW_WARNINGS = (
    "ignore:Could not import graphviz:UserWarning",
    "ignore:GitWildMatchPattern:DeprecationWarning",
)
"""Airflow's own warnings about optional graph rendering and a deprecated pathspec name: noise in every run."""
PINNED_OPTIONS = {("core", "dags_folder"): str(ROOT / "dags"), ("core", "load_examples"): "False"}


def isolation_env(run_dir: Path, topic: str, dsn: str | None = None) -> dict[str, str]:
    """The variables config/local.yml reads that give a run its own topic, its lake (and checkpoints) under
    `run_dir`, and, with `dsn`, its own database."""
    lake = run_dir / "lake"
    env = {
        "LAKEHOUSE_TOPIC": topic,
        "LAKEHOUSE_LAKE_URI": str(lake),
        "LAKEHOUSE_CHECKPOINT_URI": str(lake / "_checkpoints"),
    }
    return {**env, "LAKEHOUSE_POSTGRES_DSN": dsn} if dsn else env


def airflow_env(config: Path, home: Path = AIRFLOW_HOME) -> dict[str, str]:
    """The environment every airflow command gets: home, DAG folder, config, and the Postgres connection."""
    settings = load_settings(config)
    if settings.airflow is None:
        raise ConfigError(f"{config}: missing key 'airflow': add the section from config/local.yml")
    conn_var = "AIRFLOW_CONN_" + settings.airflow.postgres_conn_id.upper()
    from config.lineage import airflow_env as lineage_env

    # The run's OpenLineage events, Airflow's and its Spark jobs', beside its Airflow home (<run>/lineage); the
    # provider's file transport does not create the folder.
    lineage_dir = home.parent / "lineage"
    lineage = lineage_env(settings, lineage_dir)
    if lineage:
        lineage_dir.mkdir(parents=True, exist_ok=True)
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
        **lineage,
    }


def pin_options(cfg: str, options: dict[tuple[str, str], str]) -> str:
    """airflow.cfg's text with each (section, key) set to its value: the key's line replaced in place, or added
    under the section's header (a missing section is appended); comments and every other line kept."""
    lines = cfg.splitlines()
    for (section, key), value in options.items():
        header = f"[{section}]"
        if header not in (line.strip() for line in lines):
            lines += ["", header]
        start = next(i for i, line in enumerate(lines) if line.strip() == header) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(start, end) if lines[i].split("=", 1)[0].strip() == key), None)
        if at is None:
            lines.insert(start, f"{key} = {value}")
        else:
            lines[at] = f"{key} = {value}"
    return "\n".join(lines) + "\n"


def pin_airflow_cfg(home: Path) -> None:
    """Write this project's DAG folder and no examples into the home's airflow.cfg, so that any Airflow command
    started on it later (the UI: make airflow-ui) shows our DAGs, not the environment's or Airflow's examples."""
    cfg = home / "airflow.cfg"
    cfg.write_text(pin_options(cfg.read_text(encoding="utf-8"), PINNED_OPTIONS), encoding="utf-8")


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an airflow command quietly; its output is for when it fails."""
    return subprocess.run(argv, env=env, cwd=ROOT, check=False, capture_output=True, text=True)


class MigrateError(RuntimeError):
    """`airflow db migrate` failed; the message has its output's end."""


def migrate_home(home: Path, env: dict[str, str]) -> None:
    """Create and migrate the home's database if it has none, then pin its airflow.cfg (pin_airflow_cfg)."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "airflow.db").is_file():
        migrate = run([str(AIRFLOW), "db", "migrate"], env)
        if migrate.returncode:
            raise MigrateError(
                migrate.stdout[-4000:]
                + migrate.stderr[-4000:]
                + f"\nerror: `airflow db migrate` failed (exit {migrate.returncode}) in {home}"
            )
    pin_airflow_cfg(home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.airflow_local.run_dag", description=__doc__.splitlines()[3]
    )
    parser.add_argument("--config", type=Path, help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--dag", default="lakehouse_pipeline", help="DAG id (default lakehouse_pipeline)")
    parser.add_argument(
        "--date", help="logical date or time, ISO-8601 (default now, so the run's start and duration are real)"
    )
    parser.add_argument(
        "--airflow-home", type=Path, default=AIRFLOW_HOME, help="AIRFLOW_HOME, created and migrated if new"
    )
    args = parser.parse_args(argv)
    home = args.airflow_home.resolve()
    config = config_path(args.config)
    try:
        env = airflow_env(config, home)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner = load_settings(config).airflow.runner
    archive = ROOT / runner.artifacts.archive_uri
    if runner.kind in ("local", "standalone") and not archive.is_file():
        print(
            f"error: {archive} (airflow.runner.artifacts.archive_uri) is missing: run `make spark-archive`",
            file=sys.stderr,
        )
        return 1
    try:
        migrate_home(home, env)
    except MigrateError as exc:
        print(exc, file=sys.stderr)
        return 1
    date = ["--logical-date", args.date] if args.date else []
    command = [sys.executable, "-m", "scripts.airflow_local.dag_test_logged", args.dag, *date]
    code = subprocess.run(command, env=env, cwd=ROOT, check=False).returncode
    if code:
        print(f"error: DAG {args.dag} failed (exit {code}); every task's log: {home / 'logs'}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
