"""make test's lanes: tests/e2e is one unit of work (its DAG run is made once), every other module its own."""

from __future__ import annotations

from tests.xdist_lanes import lane_of


def test_every_end_to_end_test_shares_one_lane_and_other_tests_go_by_module() -> None:
    ids = [
        "tests/e2e/test_cluster.py::test_the_dag_on_the_cluster",
        "tests/e2e/test_airflow_api.py::test_the_ui_api[x::y]",
        "tests/spark/test_gold.py::test_a",
        "tests/spark/test_gold.py::TestMarts::test_b[p]",
        "tests/spark/test_e2e_like.py::test_c",
    ]
    assert [lane_of(nodeid) for nodeid in ids] == [
        "e2e",
        "e2e",
        "tests/spark/test_gold.py",
        "tests/spark/test_gold.py",
        "tests/spark/test_e2e_like.py",
    ]
