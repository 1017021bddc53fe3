"""The deployable DAG folder imports with only itself on sys.path, for every example config."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml
from dag_probe import DAGBAG_REPORT, parse_marked

from config.settings import RunnerSettings
from scripts.packaging.dag_bundle import RUNNER_PROVIDERS, build
from tests.dags.dag_configs import REPO, run_python

CONFIGS = ["local.yml", "local-cluster.yml", "azure.example.yml", "gcp.example.yml"]


@pytest.mark.parametrize("config", CONFIGS)
def test_bundle_imports_with_only_itself_on_the_path(config: str, airflow_home: Path, tmp_path: Path) -> None:
    bundle = build(REPO / "config" / config, tmp_path / "bundle")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_python(
        DAGBAG_REPORT.format(folder=str(bundle)),
        pythonpath=[bundle],
        cwd=elsewhere,
        env={"AIRFLOW_HOME": str(airflow_home)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(parse_marked(result.stdout, "REPORT"))
    assert report["errors"] == {}
    assert set(report["dags"]) == {"lakehouse_pipeline"}
    assert report["heavy_modules"] == []
    assert (bundle / "config" / "deployed.yml").read_text() == (REPO / "config" / config).read_text()
    assert not (bundle / "spark").exists()


def test_bundle_loader_and_migrations_import_from_the_bundle(airflow_home: Path, tmp_path: Path) -> None:
    bundle = build(REPO / "config" / "gcp.example.yml", tmp_path / "bundle")
    code = (
        "import postgres.mart_publish, postgres.migrate, lakehouse_dags.serving, lakehouse_dags.checks\n"
        "print('FILES' + repr(sorted(m.file_name for m in postgres.migrate.discover())))\n"
        "print('FROM' + postgres.mart_publish.__file__)\n"
    )
    result = run_python(code, pythonpath=[bundle], cwd=tmp_path, env={"AIRFLOW_HOME": str(airflow_home)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert parse_marked(result.stdout, "FROM").startswith(str(bundle))
    shipped = sorted(p.name for p in (REPO / "postgres" / "migrations").glob("*.sql"))
    assert parse_marked(result.stdout, "FILES") == repr(shipped)


def test_bundle_requirements_pin_the_runner_provider(tmp_path: Path) -> None:
    bundle = build(REPO / "config" / "azure.example.yml", tmp_path / "bundle")
    lines = (bundle / "requirements.txt").read_text().splitlines()
    names = [line.split("==")[0] for line in lines]
    assert "apache-airflow-providers-databricks" in names
    assert "apache-airflow-providers-google" not in names
    assert {"apache-airflow-providers-postgres", "psycopg2-binary", "deltalake", "pyarrow"} <= set(names)
    assert all("==" in line for line in lines)
    assert "apache-airflow" not in names


def test_bad_config_is_a_dag_import_error_naming_the_key(write_config, airflow_home: Path, tmp_path: Path) -> None:
    def edit(data):
        data["airflow"]["runner"]["artifacts"]["config_uri"] = "https://example.com/gcp.yml"

    bundle = build(write_config("dataproc", edit), tmp_path / "bundle")
    result = run_python(
        DAGBAG_REPORT.format(folder=str(bundle)),
        pythonpath=[bundle],
        cwd=tmp_path,
        env={"AIRFLOW_HOME": str(airflow_home)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    errors = json.loads(parse_marked(result.stdout, "REPORT"))["errors"]
    assert set(errors) == {"lakehouse_pipeline.py", "lakehouse_streaming.py"}
    for message in errors.values():
        assert "key 'airflow.runner.artifacts.config_uri' is 'https://example.com/gcp.yml'" in message
        assert "deployed.yml" in message


def secret_variables(node: object) -> set[str]:
    """Every environment variable a config names for a secret (its *_env keys)."""
    if isinstance(node, dict):
        found = {v for k, v in node.items() if str(k).endswith("_env") and isinstance(v, str)}
        return found.union(*(secret_variables(v) for v in node.values()))
    return set()


@pytest.mark.parametrize("config", CONFIGS)
def test_no_live_secret_reaches_the_bundle_whatever_the_environment_holds(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config names environment variables; building the deployable folder must never resolve them into files."""
    secret = "Pw-3x7!live-secret"
    names = secret_variables(yaml.safe_load((REPO / "config" / config).read_text()))
    assert len(names) >= 1
    for name in names:
        monkeypatch.setenv(name, f"postgresql://app:{secret}@127.0.0.1:5433/lakehouse;SharedAccessKey={secret}")
    bundle = build(REPO / "config" / config, tmp_path / "bundle")
    files = [path for path in bundle.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
        assert path.stat().st_mode & 0o002 == 0, f"{path} is world-writable"


def test_every_runner_the_config_accepts_has_its_providers_listed() -> None:
    kinds = typing.get_args(typing.get_type_hints(RunnerSettings)["kind"])
    assert set(RUNNER_PROVIDERS) == set(kinds)
