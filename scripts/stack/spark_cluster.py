"""A local Spark standalone cluster: a master and workers, each its own JVM, run from the installed PySpark's jars.

Executors are separate processes started by the workers, so a job here sees only what spark-submit ships (the
archive, the jars, the config), as on Databricks, Synapse or Dataproc. No Docker: `java -cp <pyspark>/jars/*`
with the master's and worker's main classes, tracked by pid files like the rest of the stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.error
import urllib.request
from pathlib import Path

from config.settings import LocalSpark
from scripts.stack.processes import PidFile, Port, StackError, port_answers, spawn_detached

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The installed PySpark, which carries Spark's jars and bin/ (what SPARK_HOME is for a pip install)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def scala_version() -> str:
    """The Scala binary version of the installed Spark (from spark-core's jar name). A worker's launcher needs it
    to build an executor's command; Spark's bin/load-spark-env.sh sets it, a pip install has no such step."""
    for jar in (spark_home() / "jars").glob("spark-core_*.jar"):
        return jar.name.removeprefix("spark-core_").split("-", 1)[0]
    raise StackError(f"no spark-core jar in {spark_home() / 'jars'}: reinstall pyspark (make install)")


def master_url(local: LocalSpark) -> str:
    return f"spark://127.0.0.1:{local.master_port}"


def spark_services(local: LocalSpark, state_dir: Path) -> list[SparkMaster | SparkWorker]:
    """The master first, then each worker (a worker registers with a running master)."""
    if local.workers < 1 or local.worker_cores < 1:
        raise StackError(
            f"stack.spark.workers is {local.workers} and worker_cores {local.worker_cores}; expected at least 1 each"
        )
    master = SparkMaster(local, state_dir)
    return [master, *(SparkWorker(local, state_dir, n, master) for n in range(1, local.workers + 1))]


class _SparkDaemon:
    """What the master and the workers share: a folder, a log, a pid file and a JVM command."""

    stop_signal = signal.SIGTERM
    grace_s = 30.0
    main_class = ""

    def __init__(self, local: LocalSpark, state_dir: Path, name: str):
        self.local, self.name = local, name
        self.dir = state_dir / "spark" / name
        self.log_file = self.dir / f"{name}.log"
        self.pid_file = PidFile(self.dir / f"{name}.pid", self._is_ours)

    def _is_ours(self, cmdline: list[str]) -> bool:
        return self.main_class in cmdline and f"-Dlakehouse.stack.dir={self.dir}" in cmdline

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def _command(self, *args: str) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not Path(java).is_file():
            raise StackError("java not found: install a JDK 17 (Spark 4 needs it) or set JAVA_HOME")
        return [
            java,
            f"-Xmx{self.local.daemon_memory}",
            f"-Dlakehouse.stack.dir={self.dir}",
            "-cp",
            f"{spark_home() / 'jars'}/*",
            self.main_class,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        """SPARK_HOME for the executors a worker starts, and no PYTHONPATH: an executor imports only what the job
        shipped (--py-files), never this checkout."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_GATEWAY_PORT")}
        return {
            **env,
            "SPARK_HOME": str(spark_home()),
            "SPARK_SCALA_VERSION": scala_version(),
            "SPARK_LOCAL_IP": "127.0.0.1",
        }

    def launch(self) -> int:
        return spawn_detached(self._command(*self._arguments()), self.log_file, cwd=self.dir, env=self._env()).pid

    def _arguments(self) -> list[str]:
        raise NotImplementedError

    def _master_state(self) -> dict | None:
        """The master's JSON status page (the one its UI serves), or None when it does not answer."""
        url = f"http://127.0.0.1:{self.local.master_ui_port}/json/"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None


class SparkMaster(_SparkDaemon):
    main_class = MASTER_CLASS

    def __init__(self, local: LocalSpark, state_dir: Path):
        super().__init__(local, state_dir, "spark-master")

    def ports(self) -> list[Port]:
        return [
            Port(self.local.master_port, "stack.spark.master_port", "LAKEHOUSE_SPARK_MASTER_PORT"),
            Port(self.local.master_ui_port, "stack.spark.master_ui_port", "LAKEHOUSE_SPARK_MASTER_UI_PORT"),
        ]

    def endpoint(self) -> str:
        return f"{master_url(self.local)} (UI http://localhost:{self.local.master_ui_port})"

    def _arguments(self) -> list[str]:
        return [
            "--host",
            "127.0.0.1",
            "--port",
            str(self.local.master_port),
            "--webui-port",
            str(self.local.master_ui_port),
        ]

    def healthy(self) -> bool:
        state = self._master_state()
        return bool(state) and state.get("status") == "ALIVE"


class SparkWorker(_SparkDaemon):
    main_class = WORKER_CLASS

    def __init__(self, local: LocalSpark, state_dir: Path, number: int, master: SparkMaster):
        super().__init__(local, state_dir, f"spark-worker-{number}")
        self.number, self.master = number, master
        self.port = local.worker_port + number - 1
        self.ui_port = local.worker_ui_port + number - 1
        self.work_dir = self.dir / "work"

    def ports(self) -> list[Port]:
        offset = f" + {self.number - 1}" if self.number > 1 else ""
        return [
            Port(self.port, f"stack.spark.worker_port{offset}", "LAKEHOUSE_SPARK_WORKER_PORT"),
            Port(self.ui_port, f"stack.spark.worker_ui_port{offset}", "LAKEHOUSE_SPARK_WORKER_UI_PORT"),
        ]

    def endpoint(self) -> str:
        return (
            f"{self.local.worker_cores} core(s), {self.local.worker_memory} for executors "
            f"(UI http://localhost:{self.ui_port})"
        )

    def _arguments(self) -> list[str]:
        return [
            master_url(self.local),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--webui-port",
            str(self.ui_port),
            "--cores",
            str(self.local.worker_cores),
            "--memory",
            self.local.worker_memory,
            "--work-dir",
            str(self.work_dir),
        ]

    def healthy(self) -> bool:
        """The master lists this worker (by its port) as ALIVE."""
        if not port_answers(self.port):
            return False
        state = self._master_state() or {}
        return any(
            worker.get("port") == self.port and worker.get("state") == "ALIVE" for worker in state.get("workers", [])
        )
