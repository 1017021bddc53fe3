"""Tooling around the product, by purpose: the local stack (stack/), packaging (packaging/), the local Airflow
(airflow_local/), the run report (report/), benchmarks (bench/), the demo and its reconciliation. Nothing here is
deployed: what ships is dags/, spark/, spark-scala/, kafka/, postgres/ and config/."""
