"""The operator that runs one Spark job on the configured runner: local, Databricks, Synapse or Dataproc."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from config import lineage
from config.local_spark import driver_java_options, jars_in, local_driver_conf
from config.settings import ConfigError, RunnerSettings, Settings
from lakehouse_dags.defaults import PROJECT_DIR, airflow_settings

ARTIFACTS = "airflow.runner.artifacts"
_MAVEN = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_.+-]+$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")
# Synapse executor sizes: (vCores, memory) per https://learn.microsoft.com/azure/synapse-analytics/spark/
SYNAPSE_SIZES = {
    "Small": (4, "28g"),
    "Medium": (8, "56g"),
    "Large": (16, "112g"),
    "XLarge": (32, "224g"),
    "XXLarge": (64, "400g"),
}
# spark-scala/pom.xml names each build lakehouse-gold_<Scala binary version>-<version>.jar; Synapse 3.5 runs 2.12.
SPARK4_SCALA_JAR = "_2.13-"
_MACROS = "macros.OpenLineageProviderPlugin"
# The Airflow task's OpenLineage run as the Spark application's parent (what the provider's
# spark_inject_parent_job_info does for the Databricks and Dataproc operators), rendered when the task runs.
LINEAGE_PARENT_CONF = {
    "spark.openlineage.parentJobNamespace": f"{{{{ {_MACROS}.lineage_job_namespace() }}}}",
    "spark.openlineage.parentJobName": f"{{{{ {_MACROS}.lineage_job_name(task_instance) }}}}",
    "spark.openlineage.parentRunId": f"{{{{ {_MACROS}.lineage_run_id(task_instance) }}}}",
    "spark.openlineage.rootParentJobNamespace": f"{{{{ {_MACROS}.lineage_root_job_namespace(task_instance) }}}}",
    "spark.openlineage.rootParentJobName": f"{{{{ {_MACROS}.lineage_root_job_name(task_instance) }}}}",
    "spark.openlineage.rootParentRunId": f"{{{{ {_MACROS}.lineage_root_run_id(task_instance) }}}}",
}


@dataclass(frozen=True)
class SparkJob:
    """One Spark step: spark/jobs/<name>.py (given --config first), or a JVM main class in artifacts.jar_uri
    if main_class is set (given exactly `args`: a JVM job does not read our YAML)."""

    name: str
    args: tuple[str, ...] = ()
    main_class: str | None = None


@dataclass(frozen=True)
class _Job:
    """A job resolved against the runner's artifacts: what to run and its arguments, config included."""

    file: str
    args: list[str]
    main_class: str | None


def spark_operator(
    settings: Settings, job: SparkJob, *, task_id: str, timeout: timedelta, outlets: Sequence[Any] = ()
) -> Any:
    """The operator for `job` on airflow.runner.kind; config errors name the key and file."""
    runner = airflow_settings(settings).runner
    build = _BUILDERS.get(runner.kind)
    if build is None:
        raise _error(settings, "airflow.runner.kind", f"is {runner.kind!r}; expected one of {', '.join(_BUILDERS)}")
    return build(settings, runner, job, task_id=task_id, execution_timeout=timeout, outlets=list(outlets))


def jvm_job(settings: Settings, name: str, args: Sequence[str]) -> SparkJob | None:
    """The JVM job artifacts.jar_uri and jar_main_class name, or None when no jar is configured."""
    artifacts = airflow_settings(settings).runner.artifacts
    if not artifacts.jar_uri:
        return None
    if not artifacts.jar_main_class:
        raise _error(settings, f"{ARTIFACTS}.jar_main_class", f"is required because {ARTIFACTS}.jar_uri is set")
    return SparkJob(name, tuple(args), artifacts.jar_main_class)


def _error(settings: Settings, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{settings.source}: key '{key}' {problem}")


def _section(settings: Settings, runner: RunnerSettings) -> Any:
    section = getattr(runner, runner.kind)
    if section is None:
        raise _error(
            settings,
            f"airflow.runner.{runner.kind}",
            f"is required when airflow.runner.kind is {runner.kind}",
        )
    return section


def _check_uri(settings: Settings, key: str, uri: str, prefixes: Sequence[str], runner: str) -> str:
    if not uri.startswith(tuple(prefixes)):
        raise _error(
            settings,
            key,
            f"is {uri!r}; the {runner} runner needs a URI starting with {' or '.join(prefixes)}",
        )
    return uri.rstrip("/")


def _packages(settings: Settings, runner: RunnerSettings) -> list[str]:
    for i, package in enumerate(runner.artifacts.packages):
        if not _MAVEN.match(package):
            raise _error(settings, f"{ARTIFACTS}.packages[{i}]", f"is {package!r}; expected group:artifact:version")
    return list(runner.artifacts.packages)


def _resolve(
    settings: Settings,
    runner: RunnerSettings,
    job: SparkJob,
    check: Callable[[str, str], str],
    config_arg: str,
) -> _Job:
    """Job file (or jar), and arguments led by --config, with every artifact URI checked for this runner."""
    artifacts = runner.artifacts
    if job.main_class:
        if not artifacts.jar_uri:
            raise _error(settings, f"{ARTIFACTS}.jar_uri", f"is required by the JVM job {job.name}")
        return _Job(check(f"{ARTIFACTS}.jar_uri", artifacts.jar_uri), list(job.args), job.main_class)
    jobs = check(f"{ARTIFACTS}.jobs_uri", artifacts.jobs_uri)
    return _Job(f"{jobs}/{job.name}.py", ["--config", config_arg, *job.args], None)


def local_lineage_conf(settings: Settings, job: SparkJob) -> dict[str, str]:
    """The OpenLineage listener, its transport and the parent task run, for a local job; none without lineage."""
    conf = lineage.spark_conf(settings, job.name)
    return {**conf, **LINEAGE_PARENT_CONF} if conf else {}


def _local_path(settings: Settings, key: str, value: str) -> str:
    """A local path (relative ones against the repository root); a URI scheme other than file: is an error."""
    if value.startswith("file:"):
        value = re.sub(r"^file:(//)?", "", value)
    elif _SCHEME.match(value):
        raise _error(settings, key, f"is {value!r}; the local runner needs a local path (absolute or repo-relative)")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else PROJECT_DIR / path)


def local_operator(settings: Settings, runner: RunnerSettings, job: SparkJob, **task: Any) -> Any:
    """BashOperator running spark-submit with the local jars, the code archive and the driver's Python."""
    local = _section(settings, runner)
    master = local.master or settings.spark.master
    return _spark_submit_operator(
        settings, runner, job, local, master=master, cluster_conf={}, ship_config=False, **task
    )


def standalone_operator(settings: Settings, runner: RunnerSettings, job: SparkJob, **task: Any) -> Any:
    """BashOperator running spark-submit (client mode) against a standalone master: executors are the workers'
    processes, sized by airflow.runner.standalone, and get the archive, the jars and the config file shipped. The
    driver keeps its UI (a local driver's is off), so the master UI's application links lead to it."""
    standalone = _section(settings, runner)
    key, master = (
        ("airflow.runner.standalone.master", standalone.master)
        if standalone.master
        else ("spark.master", settings.spark.master)
    )
    if not master.startswith("spark://"):
        raise _error(settings, key, f"is {master!r}; the standalone runner expects spark://host:port")
    cluster_conf = {
        "spark.submit.deployMode": "client",
        "spark.executor.memory": standalone.executor_memory,
        "spark.executor.cores": str(standalone.executor_cores),
        "spark.cores.max": str(standalone.max_cores),
        "spark.ui.enabled": "true",
    }
    return _spark_submit_operator(
        settings, runner, job, standalone, master=master, cluster_conf=cluster_conf, ship_config=True, **task
    )


def _spark_submit_operator(
    settings: Settings,
    runner: RunnerSettings,
    job: SparkJob,
    section: Any,
    *,
    master: str,
    cluster_conf: dict[str, str],
    ship_config: bool,
    **task: Any,
) -> Any:
    """The local and standalone runners' BashOperator: spark-submit on this machine with the code archive (and,
    when `ship_config`, the config file as --files, for executors on other machines), the jars of the runner's
    jars_dir (else spark.jars_dir), the driver's Python."""
    from airflow.providers.standard.operators.bash import BashOperator

    kind = runner.kind
    artifacts = runner.artifacts
    archive = _local_path(settings, f"{ARTIFACTS}.archive_uri", artifacts.archive_uri)
    config = _local_path(settings, f"{ARTIFACTS}.config_uri", artifacts.config_uri)
    resolved = _resolve(settings, runner, job, lambda key, uri: _local_path(settings, key, uri), config)
    jars_key = f"airflow.runner.{kind}.jars_dir" if section.jars_dir else "spark.jars_dir"
    jars_dir = section.jars_dir or settings.spark.jars_dir
    jars_path = _local_path(settings, jars_key, jars_dir) if jars_dir else None
    jars = jars_in(jars_path) if jars_path else []
    java_options = " ".join(
        filter(None, [driver_java_options(settings, jars_path, jars), lineage.driver_java_options(settings)])
    )
    conf = {
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        **local_driver_conf(settings),
        **cluster_conf,
        **local_lineage_conf(settings, job),
    }
    argv = [
        _local_path(settings, f"airflow.runner.{kind}.spark_submit", section.spark_submit),
        "--master",
        master,
        "--name",
        f"lakehouse-{job.name}",
        "--driver-memory",
        settings.spark.driver_memory,
        *(["--driver-java-options", java_options] if java_options else []),
        *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
        "--py-files",
        archive,
    ]
    if ship_config:
        argv += ["--files", config]
    if jars:
        argv += ["--jars", ",".join(jars)]
    packages = _packages(settings, runner)
    if packages:
        argv += ["--packages", ",".join(packages)]
    if resolved.main_class:
        argv += ["--class", resolved.main_class]
    argv += [resolved.file, *resolved.args]
    command = shlex.join(argv)
    if resolved.main_class:
        command = _when_file_exists(
            resolved.file,
            f"error: no jar at {resolved.file} ({ARTIFACTS}.jar_uri in {settings.source}): "
            "run `make scala-build` (spark-submit would only say it cannot load the main class)",
            command,
        )
    if jars_dir and not jars:
        command = (
            shlex.join(["echo", f"error: no jars in {jars_dir} ({jars_key} in {settings.source}): run `make jars`"])
            + " >&2; exit 1"
        )
    python = _local_path(settings, f"airflow.runner.{kind}.python", section.python)
    return BashOperator(
        bash_command=command,
        cwd=str(PROJECT_DIR),
        env={"PYTHONPATH": archive, "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python},
        append_env=True,
        **task,
    )


def _when_file_exists(path: str, error: str, command: str) -> str:
    """`command`, run only when `path` exists when the task runs (it may be built after the DAG was parsed), else
    `error` on stderr and exit 1; the command stays whole on the last line."""
    check = f"if [ ! -f {shlex.quote(path)} ]; then {shlex.join(['echo', error])} >&2; exit 1; fi"
    return f"{check}\n{command}"


DATABRICKS_CODE = ("dbfs:/", "/Volumes/", "/Workspace/", "abfss://", "s3://", "gs://")
DATABRICKS_CONFIG = ("dbfs:/", "/Volumes/", "/Workspace/")


def _databricks_config_path(uri: str) -> str:
    """What the driver's open() sees: dbfs:/x is mounted at /dbfs/x; Volumes and Workspace paths are local."""
    return "/dbfs/" + uri.removeprefix("dbfs:/").lstrip("/") if uri.startswith("dbfs:/") else uri


def databricks_operator(settings: Settings, runner: RunnerSettings, job: SparkJob, **task: Any) -> Any:
    """DatabricksSubmitRunOperator: one run on a new or existing cluster, code as a wheel, Maven packages."""
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    db = _section(settings, runner)
    artifacts = runner.artifacts

    def check(key: str, uri: str) -> str:
        return _check_uri(settings, key, uri, DATABRICKS_CODE, "databricks")

    config = _check_uri(settings, f"{ARTIFACTS}.config_uri", artifacts.config_uri, DATABRICKS_CONFIG, "databricks")
    archive = check(f"{ARTIFACTS}.archive_uri", artifacts.archive_uri)
    if not archive.endswith(".whl"):
        raise _error(
            settings,
            f"{ARTIFACTS}.archive_uri",
            f"is {archive!r}; Databricks installs shared code as a library, so it must be a .whl",
        )
    resolved = _resolve(settings, runner, job, check, _databricks_config_path(config))
    libraries: list[dict[str, Any]] = [{"maven": {"coordinates": p}} for p in _packages(settings, runner)]
    libraries.append({"whl": archive})
    if (db.existing_cluster_id is None) == (db.new_cluster is None):
        raise _error(settings, "airflow.runner.databricks", "needs exactly one of existing_cluster_id and new_cluster")
    cluster: dict[str, Any] = {}
    if db.existing_cluster_id:
        cluster["existing_cluster_id"] = db.existing_cluster_id
    else:
        spec = db.new_cluster
        new_cluster: dict[str, Any] = {
            "spark_version": spec.spark_version,
            "node_type_id": spec.node_type_id,
            "num_workers": spec.num_workers,
            "spark_conf": {
                "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
                **lineage.spark_conf(settings, job.name),
            },
        }
        secret_env = settings.kafka.security.sasl_password_env
        if spec.secret_scope and secret_env:
            reference = f"{{{{secrets/{spec.secret_scope}/{secret_env}}}}}"
            new_cluster["spark_env_vars"] = {secret_env: "{{ '" + reference + "' }}"}
        cluster["new_cluster"] = new_cluster
    if resolved.main_class:
        libraries.append({"jar": resolved.file})
        job_spec = {"spark_jar_task": {"main_class_name": resolved.main_class, "parameters": resolved.args}}
    else:
        job_spec = {"spark_python_task": {"python_file": resolved.file, "parameters": resolved.args}}
    return DatabricksSubmitRunOperator(
        databricks_conn_id=db.conn_id,
        run_name=f"lakehouse-{job.name}",
        libraries=libraries,
        timeout_seconds=int(task["execution_timeout"].total_seconds()),
        deferrable=True,
        **cluster,
        **job_spec,
        **task,
    )


def synapse_operator(settings: Settings, runner: RunnerSettings, job: SparkJob, **task: Any) -> Any:
    """AzureSynapseRunSparkBatchOperator: a Livy batch with the archive, the config file and packages."""
    from airflow.providers.microsoft.azure.operators.synapse import AzureSynapseRunSparkBatchOperator
    from azure.synapse.spark.models import SparkBatchJobOptions

    syn = _section(settings, runner)
    artifacts = runner.artifacts

    def check(key: str, uri: str) -> str:
        return _check_uri(settings, key, uri, ("abfss://",), "synapse")

    config = check(f"{ARTIFACTS}.config_uri", artifacts.config_uri)
    archive = check(f"{ARTIFACTS}.archive_uri", artifacts.archive_uri)
    resolved = _resolve(settings, runner, job, check, PurePosixPath(config).name)
    if resolved.main_class and SPARK4_SCALA_JAR in PurePosixPath(resolved.file).name:
        raise _error(
            settings,
            f"{ARTIFACTS}.jar_uri",
            f"is {resolved.file!r}, the Scala 2.13 (Spark 4 only) build; Synapse runs Spark 3.5 on Scala 2.12, so "
            f"the JVM job {job.name} needs the spark35 build (mvn -f spark-scala/pom.xml -P spark35 package: "
            "target/scala-2.12/lakehouse-gold_2.12-*.jar)",
        )
    cores, memory = SYNAPSE_SIZES[syn.executor_size]
    conf = {
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        **lineage.spark_conf(settings, job.name),
    }
    packages = _packages(settings, runner)
    if packages:
        conf["spark.jars.packages"] = ",".join(packages)
    payload = SparkBatchJobOptions(
        name=f"lakehouse-{job.name}",
        file=resolved.file,
        class_name=resolved.main_class,
        arguments=resolved.args,
        python_files=None if resolved.main_class else [archive],
        files=[config],
        configuration=conf,
        driver_memory=memory,
        driver_cores=cores,
        executor_memory=memory,
        executor_cores=cores,
        executor_count=syn.executor_count,
        tags={"app": "lakehouse", "job": job.name},
    )
    return AzureSynapseRunSparkBatchOperator(
        azure_synapse_conn_id=syn.conn_id,
        spark_pool=syn.spark_pool,
        payload=payload,
        timeout=int(task["execution_timeout"].total_seconds()),
        **task,
    )


def dataproc_operator(settings: Settings, runner: RunnerSettings, job: SparkJob, **task: Any) -> Any:
    """DataprocCreateBatchOperator: a Serverless batch; a retried attempt submits a new batch id."""
    from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

    dp = _section(settings, runner)
    artifacts = runner.artifacts

    def check(key: str, uri: str) -> str:
        return _check_uri(settings, key, uri, ("gs://",), "dataproc")

    config = check(f"{ARTIFACTS}.config_uri", artifacts.config_uri)
    archive = check(f"{ARTIFACTS}.archive_uri", artifacts.archive_uri)
    resolved = _resolve(settings, runner, job, check, PurePosixPath(config).name)
    if resolved.main_class:
        work = {
            "spark_batch": {
                "main_class": resolved.main_class,
                "jar_file_uris": [resolved.file],
                "args": resolved.args,
            }
        }
    else:
        work = {
            "pyspark_batch": {
                "main_python_file_uri": resolved.file,
                "python_file_uris": [archive],
                "file_uris": [config],
                "args": resolved.args,
            }
        }
    properties = {
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        **lineage.spark_conf(settings, job.name),
    }
    packages = _packages(settings, runner)
    if packages:
        properties["spark.jars.packages"] = ",".join(packages)
    execution: dict[str, Any] = {"ttl": {"seconds": int(task["execution_timeout"].total_seconds())}}
    if dp.service_account:
        execution["service_account"] = dp.service_account
    if dp.subnetwork_uri:
        execution["subnetwork_uri"] = dp.subnetwork_uri
    if dp.network_tags:
        execution["network_tags"] = list(dp.network_tags)
    batch = {
        **work,
        "runtime_config": {"version": dp.runtime_version, "properties": properties},
        "environment_config": {"execution_config": execution},
        "labels": {"app": "lakehouse", "job": job.name.replace("_", "-")},
    }
    return DataprocCreateBatchOperator(
        project_id=dp.project_id,
        region=dp.region,
        gcp_conn_id=dp.gcp_conn_id,
        batch=batch,
        batch_id_prefix=f"lakehouse-{job.name.replace('_', '-')}",
        deferrable=True,
        **task,
    )


_BUILDERS = {
    "local": local_operator,
    "standalone": standalone_operator,
    "databricks": databricks_operator,
    "synapse": synapse_operator,
    "dataproc": dataproc_operator,
}
