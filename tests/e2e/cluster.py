"""What the local-cluster tests share: the cluster's config, its master's state, and the failures they inject.

A failure here is what a lost machine does: SIGKILL, no shutdown hook, no goodbye to the peers. A Spark worker
is killed with the executors it started, since they would die with its machine."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
from confluent_kafka.admin import AdminClient

from config.settings import Settings
from scripts.stack.kafka_broker import KafkaBroker
from scripts.stack.services import Stack
from scripts.stack.spark_cluster import SparkWorker

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CONFIG = REPO / "config" / "local-cluster.yml"


def master_state(settings: Settings) -> dict:
    """The standalone master's JSON page: its workers, active and completed applications."""
    url = f"http://127.0.0.1:{settings.stack.spark.master_ui_port}/json/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def leaders(bootstrap_servers: str, topic: str) -> Counter[int]:
    """How many of the topic's partitions each broker (node id) leads."""
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(topic, timeout=30)
    return Counter(p.leader for p in metadata.topics[topic].partitions.values())


def kill_leader_heaviest(stack: Stack, bootstrap_servers: str, topic: str) -> KafkaBroker:
    """SIGKILL the Kafka node that leads the most of the topic's partitions; returns it."""
    node_id, _ = leaders(bootstrap_servers, topic).most_common(1)[0]
    (victim,) = [node for node in stack.kafka_nodes if node.node == node_id]
    sigkill(victim.pid_file.process(), victim.name)
    return victim


def kill_worker(worker: SparkWorker) -> list[int]:
    """SIGKILL a Spark worker and the executors it started; returns their pids."""
    process = worker.pid_file.process()
    assert process is not None, f"{worker.name} is not running"
    family = [*process.children(recursive=True), process]
    for member in family:
        sigkill(member, worker.name)
    return [member.pid for member in family]


def sigkill(process: psutil.Process | None, name: str) -> None:
    assert process is not None, f"{name} is not running"
    process.kill()
    process.wait(30)


RUNNING_TASK = re.compile(r"Running task \S+ in stage \S+ \(TID (\d+)\)")
FINISHED_TASK = re.compile(r"Finished task \S+ in stage \S+ \(TID (\d+)\)")


def running_tasks(executor_log: Path) -> set[str]:
    """The task ids an executor's log shows started and not finished."""
    try:
        text = executor_log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return set()
    return set(RUNNING_TASK.findall(text)) - set(FINISHED_TASK.findall(text))


@dataclass
class WorkerLoss:
    """Which worker was killed, while running which task of which application."""

    worker: str
    app_id: str
    task_ids: set[str]
    pids: list[int]


class WorkerKiller(threading.Thread):
    """Waits for the application named `app_name` to run a task on a worker's executor and SIGKILLs that worker
    (with its executors) at that moment: the application must finish its work on the other worker. Once it has,
    the worker is started again, so the applications after it have both workers' cores."""

    def __init__(self, stack: Stack, app_name: str, poll_s: float = 0.05, app_poll_s: float = 0.5):
        super().__init__(name=f"kill-a-worker-running-{app_name}", daemon=True)
        self.stack, self.app_name, self.poll_s, self.app_poll_s = stack, app_name, poll_s, app_poll_s
        self.done = threading.Event()
        self.loss: WorkerLoss | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._hunt()
        except BaseException as exc:  # reported by the test, which asserts on self.error
            self.error = exc

    def _hunt(self) -> None:
        workers = [svc for svc in self.stack.spark if isinstance(svc, SparkWorker)]
        app_id = None
        while not self.done.is_set():
            if app_id is None:
                active = master_state(self.stack.settings)["activeapps"]
                app_id = next((a["id"] for a in active if a["name"] == self.app_name), None)
                time.sleep(self.poll_s if app_id else self.app_poll_s)
                continue
            for worker in workers:
                tasks = set().union(*map(running_tasks, (worker.work_dir / app_id).glob("*/stderr")))
                if tasks:
                    self.loss = WorkerLoss(worker.name, app_id, tasks, kill_worker(worker))
                    self._restart_after(app_id)
                    return
            time.sleep(self.poll_s)

    def _restart_after(self, app_id: str) -> None:
        def running() -> bool:
            try:
                return any(app["id"] == app_id for app in master_state(self.stack.settings)["activeapps"])
            except OSError:  # a busy master's page timing out (URLError is one): ask again
                return True

        while not self.done.is_set() and running():
            time.sleep(self.app_poll_s)
        self.stack.up()
