"""Usage: python -m scripts.packaging.dag_bundle [--config PATH] [--out .local/dist/dags]

Assembles what a managed Airflow (Cloud Composer, Astronomer, Fabric Apache Airflow jobs) deploys as its DAG
folder: dags/, the config package with the chosen YAML as config/deployed.yml, and the postgres package the
load task runs, plus the requirements.txt that environment must install. Only that folder is on sys.path.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from config.settings import ConfigError, config_path, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / ".local" / "dist" / "dags"
RUNNER_PROVIDERS = {
    "local": [],
    "standalone": [],
    "databricks": ["apache-airflow-providers-databricks"],
    "synapse": ["apache-airflow-providers-microsoft-azure"],
    "dataproc": ["apache-airflow-providers-google"],
}
COMMON_REQUIREMENTS = [
    "apache-airflow-providers-standard",
    "apache-airflow-providers-common-sql",
    "apache-airflow-providers-postgres",
    "psycopg2-binary",
    "deltalake",
    "pyarrow",
    "pyyaml",
]
IGNORED = ("__pycache__", "*.pyc", "requirements.txt")


def requirements(runner: str) -> list[str]:
    """Pinned to the versions this repository tests with (the lockfile's, as installed in .venv)."""
    pinned = []
    for name in RUNNER_PROVIDERS[runner] + COMMON_REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError as exc:
            raise SystemExit(f"{name} is not installed in this environment: run `make install`") from exc
    return pinned


def build(config: Path, out: Path) -> Path:
    """Write the bundle to `out` (replacing it); the config must load and have an airflow section."""
    settings = load_settings(config)
    if settings.airflow is None:
        raise ConfigError(f"{config}: missing key 'airflow': the DAGs need their schedule, runner and connections")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT / "dags", out, ignore=shutil.ignore_patterns(*IGNORED))
    (out / "config").mkdir()
    for name in ("__init__.py", "catalog.py", "reconciliation.py", "settings.py", "local_spark.py", "lineage.py"):
        shutil.copy2(ROOT / "config" / name, out / "config" / name)
    shutil.copy2(config, out / "config" / "deployed.yml")
    shutil.copytree(ROOT / "postgres", out / "postgres", ignore=shutil.ignore_patterns(*IGNORED, "requirements*.txt"))
    with (out / ".airflowignore").open("a", encoding="utf-8") as ignore:
        ignore.write("config/\npostgres/\n")
    lines = requirements(settings.airflow.runner.kind)
    (out / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.packaging.dag_bundle", description=__doc__.splitlines()[2])
    parser.add_argument("--config", type=Path, help="the YAML to deploy (default: $LAKEHOUSE_CONFIG, else local.yml)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"bundle folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    config = config_path(args.config)
    try:
        out = build(config, args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"DAG bundle for {config} in {out}; install {out / 'requirements.txt'} in the Airflow env")
    return 0


if __name__ == "__main__":
    sys.exit(main())
