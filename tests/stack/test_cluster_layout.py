"""The local cluster's layout, from its config alone (no process started): ports, quorum, replication, workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import LocalKafka, LocalSpark, load_settings
from scripts.stack.kafka_broker import KafkaBroker, kafka_nodes
from scripts.stack.processes import StackError
from scripts.stack.services import Stack
from scripts.stack.spark_cluster import scala_version, spark_services

CLUSTER_CONFIG = Path(__file__).resolve().parents[2] / "config" / "local-cluster.yml"


def properties(node: KafkaBroker) -> dict[str, str]:
    text = node._server_properties("secret")
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_three_nodes_form_one_static_quorum_with_replication_three_and_two_in_sync(tmp_path):
    nodes = kafka_nodes(LocalKafka(port=19092, sasl_port=19094, controller_port=19093, nodes=3), tmp_path)
    assert [(n.name, n.port, n.sasl_port, n.controller_port) for n in nodes] == [
        ("kafka-1", 19092, 19094, 19093),
        ("kafka-2", 19192, 19194, 19193),
        ("kafka-3", 19292, 19294, 19293),
    ]
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19193,3@127.0.0.1:19293"
    for number, node in enumerate(nodes, start=1):
        props = properties(node)
        assert props["node.id"] == str(number) and props["controller.quorum.voters"] == voters
        assert "controller.quorum.bootstrap.servers" not in props
        assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "3"
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
        assert props["log.dirs"] == str(tmp_path / "kafka" / f"node-{number}" / "data")
    assert len({n.secret_file for n in nodes}) == 1, "the nodes share one SASL secret"


def test_one_node_keeps_the_stacks_standalone_layout(tmp_path):
    (node,) = kafka_nodes(LocalKafka(), tmp_path)
    props = properties(node)
    assert node.name == "kafka" and node.dir == tmp_path / "kafka"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert props["default.replication.factor"] == props["min.insync.replicas"] == "1"


@pytest.mark.parametrize("nodes", [0, 10])
def test_a_node_count_outside_one_to_nine_is_refused_naming_the_key(tmp_path, nodes):
    with pytest.raises(StackError, match=rf"stack.kafka.nodes is {nodes}"):
        kafka_nodes(LocalKafka(nodes=nodes), tmp_path)


def test_workers_get_their_own_ports_and_the_master_url(tmp_path):
    master, *workers = spark_services(LocalSpark(workers=2, worker_port=17078, worker_ui_port=18081), tmp_path)
    assert master._arguments()[:4] == ["--host", "127.0.0.1", "--port", "7077"]
    assert [(w.name, w.port, w.ui_port) for w in workers] == [
        ("spark-worker-1", 17078, 18081),
        ("spark-worker-2", 17079, 18082),
    ]
    assert workers[1]._arguments()[0] == "spark://127.0.0.1:7077"
    env = workers[0]._env()
    assert "PYTHONPATH" not in env and env["SPARK_SCALA_VERSION"] == scala_version()


def test_the_cluster_config_names_every_node_as_a_bootstrap_server():
    stack = Stack(load_settings(CLUSTER_CONFIG))
    assert [n.port for n in stack.kafka_nodes] == [19092, 19192, 19292]
    assert [s.name for s in stack.spark] == ["spark-master", "spark-worker-1", "spark-worker-2"]
    assert stack.settings.spark.master == f"spark://127.0.0.1:{stack.settings.stack.spark.master_port}"
    assert stack.settings.airflow.runner.standalone.master is None, "the DAG's master is spark.master's"
