"""Airflow 3's long-running components on one Airflow home, as a deployment runs them, for streaming mode here.

`airflow dags test` (make demo) needs none of them, but an asset-triggered DAG does: the triggerer runs silver's
AssetWatcher, the scheduler turns its asset events into DAG runs and hands tasks to the LocalExecutor, whose task
runners report through the api-server's execution API, and the DAG processor parses dags/. Each component is its
own process group with its log under <home>/logs/; stop() stops exactly those groups. Used by make
bench-freshness and the streaming-mode end-to-end test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from scripts.airflow_local.run_dag import AIRFLOW, ROOT, airflow_env, migrate_home
from scripts.airflow_local.ui import HOST, free_port
from scripts.stack.processes import spawn_detached

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30


class AirflowServiceError(RuntimeError):
    """A component exited or never became healthy; the message ends with its log's last lines."""


@dataclass
class AirflowServices:
    """The started components of one home, by name, and the api-server's URL."""

    home: Path
    url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def tail(self, component: str, lines: int = 20) -> str:
        text = self.log(component).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise, with the component's last log lines, if one of them has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowServiceError(
                    f"airflow {name} exited with {process.returncode}; its log ({self.log(name)}) ends:\n"
                    + self.tail(name)
                )

    def health(self) -> dict[str, str | None]:
        """Each component's status as the api-server reports it (None while it does not answer)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                body = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return dict.fromkeys(HEALTH_KEYS)
        return {key: (body.get(key) or {}).get("status") for key in HEALTH_KEYS}

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_alive()
            health = self.health()
            if all(status == "healthy" for status in health.values()):
                return
            if time.monotonic() > deadline:
                raise AirflowServiceError(
                    f"Airflow components not healthy after {timeout_s:.0f} s ({health}); logs: {self.home / 'logs'}"
                )
            time.sleep(2)

    def stop(self) -> None:
        """SIGTERM each component's process group (its task runners too), SIGKILL what outlives the timeout."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def services_env(config: Path, home: Path, url: str) -> dict[str, str]:
    """run_dag's environment plus what the components need to find each other on this machine: the
    api-server's URL for links and for the task runners' execution API, new DAGs unpaused (the deployment chose
    its mode in the config), a LocalExecutor sized for 2 cores, and a DAG folder rescanned every 10 s."""
    return {
        **airflow_env(config, home),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    }


def start_services(config: Path, home: Path, *, port: int = 8090, nice: int = 0) -> AirflowServices:
    """Migrate `home` if new, start every component on it and wait until the api-server reports all healthy.
    `nice` lowers the CPU priority of the components and every task they run (niceness is inherited)."""
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://{HOST}:{free_port(port)}"
    env = services_env(config, home, url)
    migrate_home(home, env)
    services = AirflowServices(home, url)
    port_args = ["--host", HOST, "--port", url.rsplit(":", 1)[1]]
    try:
        for name in COMPONENTS:
            services.processes[name] = spawn_detached(
                ["nice", "-n", str(nice), str(AIRFLOW), name, *(port_args if name == "api-server" else [])],
                services.log(name),
                ROOT,
                env=env,
            )
        services.wait_healthy()
    except BaseException:
        services.stop()
        raise
    return services
