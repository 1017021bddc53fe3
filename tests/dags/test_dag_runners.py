"""Each runner's operator carries exactly the job file, arguments, packages and URIs the config asked for."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest

from config.local_spark import archive_path
from config.settings import ConfigError, load_settings
from tests.dags.dag_configs import PACKAGES

TIMEOUT = timedelta(seconds=111)
BRONZE_ARGS = ("--trigger", "available-now")


def build(path: Path, job: str = "bronze", args: tuple[str, ...] = BRONZE_ARGS, main_class: str | None = None):
    from lakehouse_dags.runners import SparkJob, spark_operator

    settings = load_settings(path)
    return spark_operator(settings, SparkJob(job, args, main_class), task_id=job, timeout=TIMEOUT)


def test_local_spark_submit_command(write_config, tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("b.jar", "a.jar", "notes.txt"):
        (jars / name).write_text("x")

    def edit(data):
        data["airflow"]["runner"]["local"]["jars_dir"] = str(jars)

    op = build(write_config("local", edit))
    assert type(op).__name__ == "BashOperator"
    assert shlex.split(op.bash_command) == [
        "/opt/spark/bin/spark-submit",
        "--master",
        "local[3]",
        "--name",
        "lakehouse-bronze",
        "--driver-memory",
        "3g",
        "--conf",
        "spark.sql.shuffle.partitions=7",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.sql.execution.arrow.pyspark.enabled=true",
        "--conf",
        "spark.databricks.delta.snapshotPartitions=7",
        "--conf",
        "spark.sql.files.minPartitionNum=8",
        "--conf",
        "spark.sql.inMemoryColumnarStorage.compressed=false",
        "--py-files",
        "/opt/lh/dist/lakehouse.zip",
        "--jars",
        f"{jars}/a.jar,{jars}/b.jar",
        "--packages",
        ",".join(PACKAGES),
        "/opt/lh/spark/jobs/bronze.py",
        "--config",
        "/opt/lh/config/test.yml",
        "--trigger",
        "available-now",
    ]
    assert op.env == {
        "PYTHONPATH": "/opt/lh/dist/lakehouse.zip",
        "PYSPARK_PYTHON": "/opt/venv/bin/python",
        "PYSPARK_DRIVER_PYTHON": "/opt/venv/bin/python",
    }
    assert op.append_env is True
    assert op.execution_timeout == TIMEOUT


def test_standalone_spark_submit_ships_archive_jars_and_config_to_the_cluster(write_config, tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta.jar").write_text("x")
    op = build(write_config("standalone", _set(["airflow", "runner", "standalone", "jars_dir"], str(jars))))
    argv = shlex.split(op.bash_command)
    assert argv[:3] == ["/opt/spark/bin/spark-submit", "--master", "spark://10.0.0.5:7077"]
    conf = _conf_args(argv)
    assert {k: conf[k] for k in ("spark.submit.deployMode", "spark.executor.memory", "spark.executor.cores")} == {
        "spark.submit.deployMode": "client",
        "spark.executor.memory": "5g",
        "spark.executor.cores": "2",
    }
    assert conf["spark.cores.max"] == "6" and conf["spark.sql.shuffle.partitions"] == "7"
    assert conf["spark.ui.enabled"] == "true", "the master UI's application link must lead to the driver's UI"
    shipped = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i] in ("--py-files", "--files", "--jars")}
    assert shipped == {
        "--py-files": "/opt/lh/dist/lakehouse.zip",
        "--files": "/opt/lh/config/test.yml",
        "--jars": f"{jars}/delta.jar",
    }
    assert argv[-5:] == ["/opt/lh/spark/jobs/bronze.py", "--config", "/opt/lh/config/test.yml", *BRONZE_ARGS]
    assert op.env["PYTHONPATH"] == "/opt/lh/dist/lakehouse.zip"


def test_standalone_jar_job_runs_on_the_cluster_with_its_class(write_config) -> None:
    op = build(write_config("standalone", _with_jar), "gold_scala", ("--lake", "/lake"), "lakehouse.gold.Job")
    argv = shlex.split(op.bash_command.splitlines()[-1])
    assert argv[1:3] == ["--master", "spark://10.0.0.5:7077"]
    assert argv[-5:] == ["--class", "lakehouse.gold.Job", "/opt/lh/gold.jar", "--lake", "/lake"]


def test_a_missing_jar_fails_the_task_naming_the_key_and_the_build_command(write_config, tmp_path: Path) -> None:
    """spark-submit given a missing jar only warns and then cannot load the class; the task says what to do."""
    jar = tmp_path / "gold.jar"

    def edit(data) -> None:
        _with_jar(data)
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = str(jar)
        data["airflow"]["runner"]["standalone"]["spark_submit"] = "/bin/echo"

    op = build(write_config("standalone", edit), "gold_scala", ("--lake", "/lake"), "lakehouse.gold.Job")
    missing = subprocess.run(["bash", "-c", op.bash_command], capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    assert f"error: no jar at {jar} (airflow.runner.artifacts.jar_uri in " in missing.stderr
    assert "make scala-build" in missing.stderr
    jar.write_text("x")
    present = subprocess.run(["bash", "-c", op.bash_command], capture_output=True, text=True, check=False)
    assert present.returncode == 0 and present.stdout.split()[-3:] == [str(jar), "--lake", "/lake"]


def test_standalone_master_must_be_a_spark_url(write_config) -> None:
    with pytest.raises(ConfigError, match=r"airflow.runner.standalone.master' is 'local\[2\]'; the standalone"):
        build(write_config("standalone", _set(["airflow", "runner", "standalone", "master"], "local[2]")))


def test_standalone_master_defaults_to_spark_master_and_names_that_key(write_config) -> None:
    def without_master(value: str):
        def edit(data) -> None:
            del data["airflow"]["runner"]["standalone"]["master"]
            data["spark"]["master"] = value

        return edit

    argv = shlex.split(build(write_config("standalone", without_master("spark://10.0.0.9:7077"))).bash_command)
    assert argv[1:3] == ["--master", "spark://10.0.0.9:7077"]
    with pytest.raises(ConfigError, match=r"'spark.master' is 'local\[2\]'; the standalone runner expects spark://"):
        build(write_config("standalone", without_master("local[2]")))


def _with_jar(data) -> None:
    data["airflow"]["runner"]["artifacts"]["jar_uri"] = "/opt/lh/gold.jar"


def test_local_driver_java_options_reach_spark_submit(write_config) -> None:
    def edit(data):
        data["spark"]["driver_java_options"] = "-XX:+UseSerialGC -Dlakehouse.test=1"

    argv = shlex.split(build(write_config("local", edit)).bash_command)
    at = argv.index("--driver-java-options")
    assert argv[at + 1] == "-XX:+UseSerialGC -Dlakehouse.test=1"
    assert argv.index("--driver-memory") < at < argv.index("--py-files")


def test_local_spark_submit_maps_the_class_archive_once_recorded(write_config, tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_2.13-4.0.0.jar").write_text("x")

    def edit(data):
        data["spark"]["driver_java_options"] = "-XX:+UseSerialGC"
        data["airflow"]["runner"]["local"]["jars_dir"] = str(jars)

    def java_options() -> str:
        argv = shlex.split(build(write_config("local", edit)).bash_command)
        return argv[argv.index("--driver-java-options") + 1]

    assert java_options() == "-XX:+UseSerialGC"
    archive = archive_path(str(jars), [str(jars / "delta-spark_2.13-4.0.0.jar")])
    archive.write_bytes(b"recorded")
    assert java_options() == f"-XX:+UseSerialGC -XX:SharedArchiveFile={archive}"


def test_local_jar_job_uses_class_and_jar(write_config) -> None:
    def edit(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = "/opt/lh/jars/gold.jar"

    op = build(write_config("local", edit), "gold_jvm", ("--full-refresh",), "com.example.Gold")
    argv = shlex.split(op.bash_command)
    assert argv[-4:] == ["--class", "com.example.Gold", "/opt/lh/jars/gold.jar", "--full-refresh"]


def test_local_without_jars_fails_at_task_start_naming_the_key(write_config, tmp_path: Path) -> None:
    empty = tmp_path / "nojars"
    empty.mkdir()

    def edit(data):
        data["airflow"]["runner"]["local"]["jars_dir"] = str(empty)

    op = build(write_config("local", edit))
    assert op.bash_command.endswith("exit 1")
    assert "airflow.runner.local.jars_dir" in op.bash_command and "make jars" in op.bash_command


def test_databricks_submit_run(write_config) -> None:
    op = build(write_config("databricks"))
    assert type(op).__name__ == "DatabricksSubmitRunOperator"
    assert op.databricks_conn_id == "dbx_test"
    assert op.spark_python_task == {
        "python_file": "dbfs:/lh/jobs/bronze.py",
        "parameters": ["--config", "/dbfs/lh/config/test.yml", "--trigger", "available-now"],
    }
    assert op.spark_jar_task is None
    assert op.libraries == [{"maven": {"coordinates": p}} for p in PACKAGES] + [
        {"whl": "dbfs:/lh/dist/lakehouse-0.1.0-py3-none-any.whl"}
    ]
    assert op.existing_cluster_id is None
    cluster = op.new_cluster
    assert {k: cluster[k] for k in ("spark_version", "node_type_id", "num_workers")} == {
        "spark_version": "17.3.x-scala2.13",
        "node_type_id": "Standard_D4ds_v5",
        "num_workers": 3,
    }
    assert cluster["spark_conf"] == {"spark.sql.shuffle.partitions": "7"}
    assert op.timeout_seconds == 111
    assert op.run_name == "lakehouse-bronze"
    assert "spark_env_vars" not in cluster


def test_databricks_secret_scope_reaches_the_kafka_password_variable(write_config) -> None:
    def edit(data):
        data["kafka"]["security"] = {
            "protocol": "SASL_SSL",
            "sasl_mechanism": "PLAIN",
            "sasl_password_env": "EVENTHUBS_CONNECTION_STRING",
        }

    op = build(write_config("databricks", edit))
    rendered = jinja2.Template(op.new_cluster["spark_env_vars"]["EVENTHUBS_CONNECTION_STRING"]).render()
    assert rendered == "{{secrets/lh/EVENTHUBS_CONNECTION_STRING}}"


def test_databricks_existing_cluster_and_jar_job(write_config) -> None:
    def edit(data):
        db = data["airflow"]["runner"]["databricks"]
        del db["new_cluster"]
        db["existing_cluster_id"] = "0101-abc"
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = "dbfs:/lh/jars/gold.jar"

    op = build(write_config("databricks", edit), "gold_jvm", ("--silver", "dbfs:/s"), "com.example.Gold")
    assert op.existing_cluster_id == "0101-abc"
    assert op.new_cluster is None
    assert op.spark_jar_task == {
        "main_class_name": "com.example.Gold",
        "parameters": ["--silver", "dbfs:/s"],
    }
    assert op.libraries[-1] == {"jar": "dbfs:/lh/jars/gold.jar"}


def test_synapse_spark_batch(write_config) -> None:
    op = build(write_config("synapse"))
    assert type(op).__name__ == "AzureSynapseRunSparkBatchOperator"
    assert op.azure_synapse_conn_id == "syn_test"
    assert op.spark_pool == "pool1"
    assert op.timeout == 111
    payload = op.payload.as_dict()
    base = "abfss://code@acct.dfs.core.windows.net/lh"
    assert payload == {
        "name": "lakehouse-bronze",
        "file": f"{base}/jobs/bronze.py",
        "arguments": ["--config", "azure.yml", "--trigger", "available-now"],
        "python_files": [f"{base}/dist/lakehouse.zip"],
        "files": [f"{base}/config/azure.yml"],
        "configuration": {
            "spark.sql.shuffle.partitions": "7",
            "spark.jars.packages": "io.delta:delta-spark_2.12:3.2.1",
        },
        "driver_memory": "56g",
        "driver_cores": 8,
        "executor_memory": "56g",
        "executor_cores": 8,
        "executor_count": 5,
        "tags": {"app": "lakehouse", "job": "bronze"},
    }


def test_synapse_jar_job(write_config) -> None:
    def edit(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = "abfss://code@acct.dfs.core.windows.net/lh/gold.jar"

    payload = build(write_config("synapse", edit), "gold_jvm", (), "com.example.Gold").payload.as_dict()
    assert payload["file"] == "abfss://code@acct.dfs.core.windows.net/lh/gold.jar"
    assert payload["class_name"] == "com.example.Gold"
    assert "python_files" not in payload


def test_synapse_refuses_the_spark_4_scala_jar_naming_the_job(write_config) -> None:
    def edit(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = (
            "abfss://code@acct.dfs.core.windows.net/lh/lakehouse-gold_2.13-0.1.0.jar"
        )

    with pytest.raises(
        ConfigError, match=r"jar_uri' is .*_2\.13-0\.1\.0\.jar', the Scala 2\.13 .* JVM job gold_jvm needs"
    ):
        build(write_config("synapse", edit), "gold_jvm", (), "com.example.Gold")


def test_dataproc_batch(write_config) -> None:
    op = build(write_config("dataproc"))
    assert type(op).__name__ == "DataprocCreateBatchOperator"
    assert (op.project_id, op.region, op.gcp_conn_id) == ("proj-1", "europe-west2", "gcp_test")
    assert op.batch_id_prefix == "lakehouse-bronze"
    assert op.batch == {
        "pyspark_batch": {
            "main_python_file_uri": "gs://code/lh/jobs/bronze.py",
            "python_file_uris": ["gs://code/lh/dist/lakehouse.zip"],
            "file_uris": ["gs://code/lh/config/gcp.yml"],
            "args": ["--config", "gcp.yml", "--trigger", "available-now"],
        },
        "runtime_config": {
            "version": "3.0",
            "properties": {"spark.sql.shuffle.partitions": "7", "spark.jars.packages": ",".join(PACKAGES)},
        },
        "environment_config": {
            "execution_config": {
                "ttl": {"seconds": 111},
                "service_account": "sa@proj-1.iam.gserviceaccount.com",
                "subnetwork_uri": "projects/proj-1/regions/europe-west2/subnetworks/lh",
                "network_tags": ["lh-spark"],
            }
        },
        "labels": {"app": "lakehouse", "job": "bronze"},
    }


def test_dataproc_jar_job(write_config) -> None:
    def edit(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = "gs://code/lh/gold.jar"

    batch = build(write_config("dataproc", edit), "gold_jvm", ("--full-refresh",), "com.example.Gold").batch
    assert batch["spark_batch"] == {
        "main_class": "com.example.Gold",
        "jar_file_uris": ["gs://code/lh/gold.jar"],
        "args": ["--full-refresh"],
    }
    assert "pyspark_batch" not in batch


def _set(path: list[str], value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("runner", "edit", "message"),
    [
        ("local", _set(["airflow", "runner", "kind"], "emr"), "key 'airflow.runner.kind' is 'emr'"),
        (
            "databricks",
            _set(["airflow", "runner", "databricks", "conn_id"], None),
            "missing required key 'airflow.runner.databricks.conn_id'",
        ),
        (
            "synapse",
            _set(["airflow", "runner", "synapse", "conn_id"], None),
            "missing required key 'airflow.runner.synapse.conn_id'",
        ),
        (
            "dataproc",
            _set(["airflow", "runner", "dataproc", "region"], None),
            "missing required key 'airflow.runner.dataproc.region'",
        ),
        (
            "dataproc",
            _set(["airflow", "runner", "dataproc"], None),
            "key 'airflow.runner.dataproc' is required when airflow.runner.kind is dataproc",
        ),
        (
            "dataproc",
            _set(["airflow", "runner", "artifacts", "archive_uri"], "http://example.com/lakehouse.zip"),
            "archive_uri' is 'http://example.com/lakehouse.zip'; the dataproc runner needs a URI",
        ),
        (
            "synapse",
            _set(["airflow", "runner", "artifacts", "jobs_uri"], "spark/jobs"),
            "jobs_uri' is 'spark/jobs'; the synapse runner needs a URI starting with abfss://",
        ),
        (
            "databricks",
            _set(["airflow", "runner", "artifacts", "config_uri"], "abfss://c@a.dfs.core.windows.net/x.yml"),
            "key 'airflow.runner.artifacts.config_uri'",
        ),
        (
            "databricks",
            _set(["airflow", "runner", "artifacts", "archive_uri"], "dbfs:/lh/lakehouse.zip"),
            "must be a .whl",
        ),
        (
            "local",
            _set(["airflow", "runner", "artifacts", "archive_uri"], "gs://b/lakehouse.zip"),
            "key 'airflow.runner.artifacts.archive_uri' is 'gs://b/lakehouse.zip'; the local runner needs a",
        ),
        (
            "local",
            _set(["airflow", "runner", "artifacts", "packages"], ["delta-spark"]),
            "key 'airflow.runner.artifacts.packages[0]' is 'delta-spark'",
        ),
        (
            "databricks",
            _set(["airflow", "runner", "databricks", "existing_cluster_id"], "0101-abc"),
            "key 'airflow.runner.databricks' needs exactly one of existing_cluster_id and new_cluster",
        ),
    ],
)
def test_bad_runner_config_names_the_key_and_file(write_config, runner, edit, message) -> None:
    path = write_config(runner, edit)
    with pytest.raises(ConfigError) as caught:
        build(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_jar_job_without_jar_uri_names_the_key(write_config) -> None:
    with pytest.raises(
        ConfigError, match=r"key 'airflow.runner.artifacts.jar_uri' is required by the JVM job gold_jvm"
    ):
        build(write_config("dataproc"), "gold_jvm", (), "com.example.Gold")


@pytest.mark.parametrize(
    ("value", "message"),
    [("2025-01-01T00:00:00+02:00", "give it in UTC"), ("yesterday", "expected an ISO 8601 UTC time")],
)
def test_start_date_must_be_utc(write_config, value, message) -> None:
    from lakehouse_dags.defaults import start_date

    path = write_config("local", _set(["airflow", "start_date"], value))
    with pytest.raises(ConfigError, match=message) as caught:
        start_date(load_settings(path))
    assert "airflow.start_date" in str(caught.value) and str(path) in str(caught.value)


def test_default_args_follow_the_config(write_config) -> None:
    from lakehouse_dags.callbacks import TaskFailureAlert
    from lakehouse_dags.defaults import default_args

    args = default_args(load_settings(write_config("local")))
    assert args["retries"] == 4
    assert args["retry_delay"] == timedelta(seconds=30)
    assert args["retry_exponential_backoff"] == 3.0
    assert args["max_retry_delay"] == timedelta(seconds=900)
    assert isinstance(args["on_failure_callback"], TaskFailureAlert)
    assert args["on_failure_callback"].alert_conn_id is None


def test_jvm_job_comes_from_config_and_needs_its_main_class(write_config) -> None:
    from lakehouse_dags.runners import SparkJob, jvm_job

    assert jvm_job(load_settings(write_config("local")), "gold_scala", ()) is None

    def jar_only(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = "/opt/lh/jars/gold.jar"

    with pytest.raises(ConfigError, match=r"test\.yml: key 'airflow\.runner\.artifacts\.jar_main_class' is required"):
        jvm_job(load_settings(write_config("local", jar_only)), "gold_scala", ())

    def both(data):
        jar_only(data)
        data["airflow"]["runner"]["artifacts"]["jar_main_class"] = "com.example.Gold"

    job = jvm_job(load_settings(write_config("local", both)), "gold_scala", ("--silver", "/s"))
    assert job == SparkJob("gold_scala", ("--silver", "/s"), "com.example.Gold")


def _conf_args(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--conf")


def _with_lineage(transport: dict):
    def edit(data):
        data["lineage"] = {"namespace": "lh-test", "transport": transport}

    return edit


def test_local_lineage_listener_writes_to_the_jobs_file_with_the_task_run_as_parent(write_config, tmp_path) -> None:
    from types import SimpleNamespace

    from airflow.providers.openlineage.plugins import macros as provider_macros
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    events = tmp_path / "lineage"
    op = build(write_config("local", _with_lineage({"kind": "file", "directory": str(events)})))
    conf = _conf_args(shlex.split(op.bash_command))
    assert conf["spark.extraListeners"] == "io.openlineage.spark.agent.OpenLineageSparkListener"
    assert conf["spark.openlineage.namespace"] == "lh-test"
    assert conf["spark.openlineage.transport.type"] == "file"
    assert conf["spark.openlineage.transport.location"] == str(events / "spark-bronze.ndjson")

    logical = datetime(2025, 3, 2, tzinfo=UTC)
    dag_run = SimpleNamespace(logical_date=logical, run_after=logical, conf={}, clear_number=0)
    ti = SimpleNamespace(dag_id="lakehouse_pipeline", task_id="bronze", try_number=2, map_index=-1, dag_run=dag_run)
    ti.get_template_context = lambda: {"dag_run": dag_run}
    rendered = jinja2.Template(op.bash_command).render(
        macros=SimpleNamespace(OpenLineageProviderPlugin=provider_macros), task_instance=ti
    )
    parent = _conf_args(shlex.split(rendered))
    task_run = OpenLineageAdapter.build_task_instance_run_id(
        dag_id="lakehouse_pipeline", task_id="bronze", try_number=2, logical_date=logical, map_index=-1
    )
    dag_run_id = OpenLineageAdapter.build_dag_run_id(dag_id="lakehouse_pipeline", logical_date=logical, clear_number=0)
    assert parent["spark.openlineage.parentJobName"] == "lakehouse_pipeline.bronze"
    assert parent["spark.openlineage.parentRunId"] == task_run
    assert parent["spark.openlineage.rootParentJobName"] == "lakehouse_pipeline"
    assert parent["spark.openlineage.rootParentRunId"] == dag_run_id != task_run
    assert parent["spark.openlineage.parentJobNamespace"] == parent["spark.openlineage.rootParentJobNamespace"]


def _cloud_conf(op) -> dict[str, str]:
    name = type(op).__name__
    if name == "DatabricksSubmitRunOperator":
        return op.new_cluster["spark_conf"]
    if name == "AzureSynapseRunSparkBatchOperator":
        return op.payload.as_dict()["configuration"]
    return op.batch["runtime_config"]["properties"]


@pytest.mark.parametrize("runner", ["databricks", "synapse", "dataproc"])
def test_cloud_runners_get_the_listener_and_http_transport_but_never_the_key(write_config, monkeypatch, runner) -> None:
    monkeypatch.setenv("TEST_LINEAGE_KEY", "k3y-not-for-spark")
    transport = {"kind": "http", "url": "https://marquez.example", "api_key_env": "TEST_LINEAGE_KEY"}
    op = build(write_config(runner, _with_lineage(transport)))
    conf = _cloud_conf(op)
    assert conf["spark.extraListeners"] == "io.openlineage.spark.agent.OpenLineageSparkListener"
    assert conf["spark.openlineage.transport.type"] == "http"
    assert conf["spark.openlineage.transport.url"] == "https://marquez.example"
    assert conf["spark.sql.shuffle.partitions"] == "7"
    assert not any(key.startswith("spark.openlineage.parent") for key in conf)
    assert "k3y-not-for-spark" not in repr(conf)


@pytest.mark.parametrize("runner", ["local", "databricks", "synapse", "dataproc"])
def test_no_lineage_section_adds_no_openlineage_conf(write_config, runner) -> None:
    op = build(write_config(runner))
    text = op.bash_command if runner == "local" else repr(_cloud_conf(op))
    assert "openlineage" not in text.lower()


def test_local_lineage_opens_the_module_the_listener_reflects_into(write_config, tmp_path) -> None:
    def edit(data):
        data["spark"]["driver_java_options"] = "-XX:+UseSerialGC"
        _with_lineage({"kind": "file", "directory": str(tmp_path)})(data)

    argv = shlex.split(build(write_config("local", edit)).bash_command)
    options = argv[argv.index("--driver-java-options") + 1]
    assert options == "-XX:+UseSerialGC --add-opens=java.base/java.security=ALL-UNNAMED"
