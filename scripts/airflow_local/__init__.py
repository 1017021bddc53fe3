"""Airflow on this machine: a DAG run like airflow dags test with task logs, the UI on a run's home, screenshots,
and the streaming mode (continuous bronze and silver with the asset-triggered DAG)."""
