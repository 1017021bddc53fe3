"""Each deployable folder's requirements.txt is generated from pyproject.toml and uv.lock, never edited by hand."""

from scripts.packaging import requirements


def test_committed_requirements_match_the_lockfile():
    assert requirements.main(["--check"]) == 0


def test_spark_cluster_requirements_leave_spark_to_the_cluster():
    spark = requirements.expected_files()["spark/requirements.txt"]
    assert "pyspark" not in spark and "delta-spark" not in spark
    assert "orjson==" in spark and "pyyaml==" in spark


def test_dag_requirements_leave_airflow_to_the_managed_image():
    dags = requirements.expected_files()["dags/requirements.txt"]
    assert "apache-airflow==" not in dags
    assert "apache-airflow-providers-databricks==" in dags
