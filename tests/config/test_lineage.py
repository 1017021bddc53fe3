"""The lineage section as each emitter gets it: Airflow's provider and the Spark listener write the same namespace to
the same destination, and a secret never reaches Spark conf."""

import json
from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_settings
from config.lineage import AIRFLOW_EVENTS, LINEAGE_DIR_ENV, SPARK_LISTENER, airflow_env, spark_conf
from scripts.airflow_local import run_dag

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
BASE = {
    "environment": "test",
    "kafka": {"bootstrap_servers": "broker:9092", "topic": "events"},
    "postgres": {"dsn_env": "TEST_PG_DSN"},
    "storage": {"lake_uri": "gs://bucket/lake", "checkpoint_uri": "gs://bucket/checkpoints"},
}


def write(tmp_path: Path, transport: dict | None) -> Path:
    data = dict(BASE)
    if transport is not None:
        data["lineage"] = {"namespace": "lh-test", "transport": transport}
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_file_transport_puts_airflow_and_each_spark_job_in_one_folder(tmp_path):
    events = tmp_path / "events"
    settings = load_settings(write(tmp_path, {"kind": "file", "directory": str(events)}))
    conf = spark_conf(settings, "silver")
    assert conf == {
        "spark.extraListeners": SPARK_LISTENER,
        "spark.openlineage.namespace": "lh-test",
        "spark.openlineage.transport.type": "file",
        "spark.openlineage.transport.location": str(events / "spark-silver.ndjson"),
    }
    env = airflow_env(settings)
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "lh-test"
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == {
        "type": "file",
        "log_file_path": str(events / AIRFLOW_EVENTS),
        "append": True,
    }
    assert LINEAGE_DIR_ENV not in env


def test_relative_directory_is_under_the_repository_root(tmp_path):
    settings = load_settings(write(tmp_path, {"kind": "file", "directory": "rel/lineage"}))
    location = Path(spark_conf(settings, "gold")["spark.openlineage.transport.location"])
    assert location == CONFIG_DIR.parent / "rel" / "lineage" / "spark-gold.ndjson"


def test_a_run_folder_moves_both_emitters_through_the_variable_the_local_config_reads(tmp_path, monkeypatch):
    run = tmp_path / "run" / "lineage"
    env = airflow_env(load_settings(CONFIG_DIR / "local.yml"), run)
    assert env[LINEAGE_DIR_ENV] == str(run)
    airflow_file = Path(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["log_file_path"])
    monkeypatch.setenv(LINEAGE_DIR_ENV, env[LINEAGE_DIR_ENV])
    spark_file = Path(
        spark_conf(load_settings(CONFIG_DIR / "local.yml"), "bronze")["spark.openlineage.transport.location"]
    )
    assert airflow_file.parent == spark_file.parent == run


def test_run_dag_local_writes_the_runs_lineage_beside_its_airflow_home(tmp_path, monkeypatch):
    monkeypatch.delenv(LINEAGE_DIR_ENV, raising=False)
    home = tmp_path / "runs" / "r1" / "airflow"
    env = run_dag.airflow_env(CONFIG_DIR / "local.yml", home)
    folder = tmp_path / "runs" / "r1" / "lineage"
    assert folder.is_dir()
    assert env[LINEAGE_DIR_ENV] == str(folder)
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["log_file_path"] == str(folder / AIRFLOW_EVENTS)
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "lakehouse-local"


def test_http_key_goes_to_airflow_only_and_never_into_spark_conf(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LINEAGE_KEY", "s3cr3t-value")
    transport = {"kind": "http", "url": "https://marquez.example", "api_key_env": "TEST_LINEAGE_KEY"}
    settings = load_settings(write(tmp_path, transport))
    conf = spark_conf(settings, "gold")
    assert conf["spark.openlineage.transport.url"] == "https://marquez.example"
    assert conf["spark.openlineage.transport.endpoint"] == "api/v1/lineage"
    assert "s3cr3t-value" not in json.dumps(conf)
    airflow = json.loads(airflow_env(settings)["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert airflow == {
        "type": "http",
        "url": "https://marquez.example",
        "endpoint": "api/v1/lineage",
        "auth": {"type": "api_key", "apiKey": "s3cr3t-value"},
    }


def test_unset_api_key_names_the_key_the_variable_and_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_LINEAGE_KEY", raising=False)
    path = write(tmp_path, {"kind": "http", "url": "https://m.example", "api_key_env": "TEST_LINEAGE_KEY"})
    with pytest.raises(ConfigError, match=r"test\.yml: key 'lineage\.transport\.api_key_env' names TEST_LINEAGE_KEY"):
        airflow_env(load_settings(path))


@pytest.mark.parametrize(
    ("transport", "key"),
    [
        ({"kind": "file"}, "directory"),
        ({"kind": "http"}, "url"),
        ({"kind": "gcplineage", "location": "europe-west2"}, "project_id"),
        ({"kind": "gcplineage", "project_id": "p"}, "location"),
    ],
)
def test_a_missing_transport_setting_is_named_with_its_kind(tmp_path, transport, key):
    settings = load_settings(write(tmp_path, transport))
    expected = rf"key 'lineage\.transport\.{key}' is required when lineage\.transport\.kind is {transport['kind']}"
    with pytest.raises(ConfigError, match=expected):
        spark_conf(settings, "bronze")


def test_gcplineage_names_project_and_region_for_both_emitters(tmp_path):
    settings = load_settings(write(tmp_path, {"kind": "gcplineage", "project_id": "p1", "location": "europe-west2"}))
    conf = spark_conf(settings, "gold")
    assert conf["spark.openlineage.transport.type"] == "dataplex"
    assert (conf["spark.openlineage.transport.projectId"], conf["spark.openlineage.transport.locations"]) == (
        "p1",
        "europe-west2",
    )
    airflow = json.loads(airflow_env(settings)["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert airflow == {"type": "gcplineage", "project_id": "p1", "location": "europe-west2"}


def test_without_a_lineage_section_nothing_is_emitted(tmp_path):
    settings = load_settings(write(tmp_path, None))
    assert spark_conf(settings, "bronze") == {}
    assert airflow_env(settings, tmp_path) == {}


def test_unknown_transport_kind_is_rejected_at_load(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'lineage\.transport\.kind' is 'kafka'; expected one of file, http"):
        load_settings(write(tmp_path, {"kind": "kafka"}))
