# lakehouse-pipeline: every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .local/tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
export UV_PYTHON_DOWNLOADS := never
CONFIG ?= config/local.yml
export LAKEHOUSE_CONFIG := $(CONFIG)
MVN := mvn -q -B
KAFKA_JARS := .local/jars/kafka
SPARK_JARS := .local/jars/spark
SCALA_JAR := spark-scala/target/.built
SPARK35_VENV := .local/venv-spark35
SPARK35_JARS := .local/jars/spark35
# Not on 3.5: the parity test needs the Spark 4 / Scala 2.13 jar, and the SIGKILL test's three extra JVMs (about
# 4 minutes) re-prove what the silver crash-and-replay test already shows on Delta 3.
SPARK35_SKIP := --ignore=tests/spark/test_scala_parity.py \
	--deselect=tests/spark/test_streaming_integration.py::test_sigkilled_silver_stream_recovers_to_the_uninterrupted_result
SPARK35_PYTEST := LAKEHOUSE_SPARK_JARS_DIR=$(SPARK35_JARS) $(SPARK35_VENV)/bin/python -m pytest tests/spark \
	$(SPARK35_SKIP) $(PYTEST_ARGS)

.PHONY: help install jars stack-up stack-down stack-status cluster-up cluster-down cluster-status test-cluster produce demo report test test-properties lint bench-produce bench-events bench-validator bench-load migrate load requirements clean spark-archive bronze silver gold maintenance dags-bundle airflow-run airflow-ui airflow-ui-stop screenshots scala-build scala-build-35 scala-test bench-scala bench-spark bench-scale bench-report bench-dedup-state bench-e2e bench-freshness redrive replay spark-wheel spark35 test-spark35

help: ## List every target
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --frozen --python $(PYTHON)
	@touch $@

$(KAFKA_JARS)/.resolved: kafka/broker/pom.xml
	$(MVN) -f kafka/broker/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(KAFKA_JARS)
	@touch $@

$(SPARK_JARS)/.resolved: spark/jars/pom.xml
	rm -rf $(CURDIR)/$(SPARK_JARS)
	$(MVN) -f spark/jars/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(SPARK_JARS)
	@touch $@

$(SPARK35_VENV)/.synced: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(SPARK35_VENV) $(UV) sync --quiet --frozen --python $(PYTHON) --no-default-groups \
		--group spark35 --group kafka --group postgres --group stack --group dev
	@touch $@

$(SPARK35_JARS)/.resolved: spark/jars/pom.xml
	rm -rf $(CURDIR)/$(SPARK35_JARS)
	$(MVN) -f spark/jars/pom.xml -Pspark35 dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(SPARK35_JARS)
	@touch $@

install: $(VENV)/.synced jars ## Install the Python environment (uv), the JVM jars (Maven) and the local drivers' class archive
	$(PY) -m scripts.packaging.class_archive

jars: $(KAFKA_JARS)/.resolved $(SPARK_JARS)/.resolved ## Resolve the pinned Kafka broker and Spark connector jars from Maven Central

spark35: $(SPARK35_VENV)/.synced $(SPARK35_JARS)/.resolved $(KAFKA_JARS)/.resolved ## Azure Synapse's Spark 3.5: uv group spark35 in .local/venv-spark35, Delta 3.3.2 jars in .local/jars/spark35
	LAKEHOUSE_SPARK_JARS_DIR=$(SPARK35_JARS) $(SPARK35_VENV)/bin/python -m scripts.packaging.class_archive

spark-archive: install ## Zip spark/, kafka/ (with schemas) and config/ for spark-submit --py-files
	$(PY) -m scripts.packaging.spark_archive

spark-wheel: install ## The same shared code as a wheel built by setuptools, for Databricks libraries (.local/dist/lakehouse-0.1.0-py3-none-any.whl)
	$(PY) -m scripts.packaging.spark_archive --output .local/dist/lakehouse-$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)-py3-none-any.whl

bronze: stack-up ## Stream Kafka into bronze Delta: make bronze ARGS="--trigger continuous"
	$(PY) -m spark.jobs.bronze $(ARGS)

silver: install ## Stream bronze into silver, quarantine and metrics: make silver ARGS="--trigger continuous"
	$(PY) -m spark.jobs.silver $(ARGS)

gold: install ## Refresh the gold marts from silver's change feed: make gold ARGS=--full-refresh to rebuild
	$(PY) -m spark.jobs.gold $(ARGS)

maintenance: install ## OPTIMIZE and VACUUM (7-day retention) every lake table
	$(PY) -m spark.jobs.maintenance $(ARGS)

redrive: install ## Move quarantined records that now pass validation into silver: make redrive ARGS="--reason future_timestamp"
	$(PY) -m spark.jobs.redrive $(ARGS)

replay: install ## Rebuild silver, quarantine and metrics from bronze (new sibling lake; ARGS=--in-place to replace)
	$(PY) -m spark.jobs.replay $(ARGS)

dags-bundle: install ## Assemble .local/dist/dags (DAGs + config + postgres + requirements): make dags-bundle CONFIG=...
	$(PY) -m scripts.packaging.dag_bundle --config $(CONFIG)

airflow-run: stack-up spark-archive $(SCALA_JAR) ## Run lakehouse_pipeline once like `airflow dags test`, task logs under .local/airflow/logs
	$(PY) -m scripts.airflow_local.run_dag --config $(CONFIG) $(ARGS)

airflow-ui: install ## Start Airflow's UI on the latest demo run (ARGS="--airflow-home DIR --port N"); prints the URL and login
	$(PY) -m scripts.airflow_local.ui $(ARGS)

airflow-ui-stop: ## Stop the Airflow UI that make airflow-ui started (by pid)
	@if [ -x $(PY) ]; then $(PY) -m scripts.airflow_local.ui --stop; fi

screenshots: install ## PNGs of the latest demo run in Airflow's UI (graph, grid, a task log; needs chromium): .local/demo/screenshots/
	$(PY) -m scripts.airflow_local.screenshots $(ARGS)

stack-up: install ## Start the local Kafka broker and PostgreSQL (idempotent)
	$(PY) -m scripts.stack.services up

stack-down: ## Stop the local services this project started
	@if [ -x $(PY) ]; then $(PY) -m scripts.stack.services down; fi

stack-status: install ## Show whether the local services are running and healthy
	$(PY) -m scripts.stack.services status

cluster-up: install jars ## Start the local cluster: 3 Kafka nodes (RF 3), a Spark master and 2 workers, PostgreSQL
	$(PY) -m scripts.stack.services up --config config/local-cluster.yml

cluster-down: ## Stop the local cluster's processes (by pid)
	@if [ -x $(PY) ]; then $(PY) -m scripts.stack.services down --config config/local-cluster.yml; fi

cluster-status: install ## Show whether each process of the local cluster is running and healthy
	$(PY) -m scripts.stack.services status --config config/local-cluster.yml

produce: stack-up ## Send synthetic events: make produce ARGS="--events 100000 --anomalies"
	$(PY) -m kafka.produce $(ARGS)

demo: stack-up $(SCALA_JAR) ## Run the pipeline end to end on the embedded defaults
	$(PY) -m scripts.demo

report: install ## Build the run report (.local/demo/report.html) of the latest demo, or any lake: make report ARGS="--out r.html"
	$(PY) -m scripts.report.build $(ARGS)

# Spark 3.5 (make test-spark35: the PySpark tests and ScalaTest again, 20-40 min) is not in make test: with it make
# test ran past CI's 90-minute limit on a slow 2-core host (docs/benchmarks.md). Run it before a Synapse release.
# The real-component tests wait on JVMs, Kafka and Airflow more than they use the CPU, so pytest runs on
# TEST_WORKERS pytest-xdist workers (tests/e2e in one lane, the other modules one by one: tests/xdist_lanes.py)
# and ScalaTest runs beside it, its log printed when pytest ends; `mvn test` leaves the jar the tests load untouched.
TEST_WORKERS ?= 2
test: install $(SCALA_JAR) ## Run every test: pytest on TEST_WORKERS=2 workers (the local cluster's last) and, beside it, ScalaTest (Spark 3.5: make test-spark35)
	@mkdir -p .local
	@echo "ScalaTest runs beside pytest; its log (.local/scalatest.log) prints when pytest ends"; \
	$(MVN) -f spark-scala/pom.xml test > .local/scalatest.log 2>&1 & scala=$$!; trap 'kill $$scala 2>/dev/null' EXIT INT TERM; \
	$(PY) -m pytest -n $(TEST_WORKERS) --no-loadscope-reorder $(PYTEST_ARGS); pytest_rc=$$?; \
	wait $$scala; scala_rc=$$?; \
	echo "--- ScalaTest, run beside pytest (exit $$scala_rc; log .local/scalatest.log):"; cat .local/scalatest.log; \
	test $$pytest_rc -eq 0 -a $$scala_rc -eq 0

test-cluster: install jars $(SCALA_JAR) ## The DAG on the local cluster (3 Kafka nodes, Spark master + 2 workers) losing a worker; streams losing a Kafka node twice
	$(PY) -m pytest -m cluster $(PYTEST_ARGS)

test-properties: install ## The property-based (hypothesis) tests with 20x the examples make test gives them: make test-properties SCALE=50
	LAKEHOUSE_PROPERTY_SCALE=$(or $(SCALE),20) $(PY) -m pytest -m hypothesis $(PYTEST_ARGS)

test-spark35: spark35 ## Synapse's runtime: tests/spark (less the Scala parity and SIGKILL tests) on Spark 3.5 / Delta 3.3.2, ScalaTest on Scala 2.12
	$(SPARK35_PYTEST)
	$(MVN) -f spark-scala/pom.xml -P spark35 verify

$(SCALA_JAR): spark-scala/pom.xml $(shell find spark-scala/src/main -name '*.scala' 2>/dev/null)
	$(MVN) -f spark-scala/pom.xml package -DskipTests
	@touch $@

scala-build: $(SCALA_JAR) ## Package the Scala gold job jar (spark-scala/, Spark 4 / Scala 2.13)

scala-build-35: ## Package the Scala gold job for Spark 3.5 / Scala 2.12 (Synapse): spark-scala/target/scala-2.12/
	$(MVN) -f spark-scala/pom.xml -P spark35 package -DskipTests

scala-test: install $(SCALA_JAR) ## ScalaTest suite of the Scala gold job, then its row-for-row parity test against PySpark
	$(MVN) -f spark-scala/pom.xml verify
	$(PY) -m pytest tests/spark/test_scala_parity.py

bench-scala: install $(SCALA_JAR) ## Benchmark the Scala vs PySpark fct_purchases_daily on 1M events
	$(PY) -m scripts.bench.scala

lint: install ## Ruff lint and format check over the Python code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrate: stack-up ## Apply the PostgreSQL migrations (postgres/migrations), each once
	$(PY) -m postgres.migrate

load: stack-up ## Publish the gold marts into PostgreSQL serving: make load ARGS="--table dim_users --full"
	$(PY) -m postgres.load $(ARGS)

bench-load: stack-up ## Benchmark the loader against psql \copy (1M rows): make bench-load ARGS="--rows 100000"
	$(PY) -m scripts.bench.load $(ARGS)

bench-spark: stack-up ## Time bronze, silver and gold in one SparkSession (1M events): make bench-spark ARGS="--events 50000"
	$(PY) -m scripts.bench.spark_layers $(ARGS)

bench-scale: stack-up ## Silver over 100k new events on 20M rows of history vs on an empty silver: make bench-scale ARGS="--big-rows 2000000"
	$(PY) -m scripts.bench.scale $(ARGS)

bench-report: install ## make report on a 20M-row silver of 200 hourly batches: the default 24 h window against the whole table
	$(PY) -m scripts.bench.report_window $(ARGS)

bench-dedup-state: install ## RocksDB dedup state: a 100k-id batch on 20M ids of state vs none: make bench-dedup-state ARGS="--mode continuous"
	$(PY) -m scripts.bench.dedup_state $(ARGS)

bench-e2e: stack-up $(SCALA_JAR) ## Produce 1M events, run the DAG into PostgreSQL, time each stage against DuckDB's marts: make bench-e2e ARGS="--events 3000000"
	$(PY) -m scripts.bench.e2e $(ARGS)

bench-freshness: stack-up $(SCALA_JAR) ## Event -> silver -> PostgreSQL freshness in streaming mode (2,000 events/s for 2 min): make bench-freshness ARGS="--rate 500"
	$(PY) -m scripts.bench.freshness $(ARGS)

bench-produce: stack-up ## Benchmark the producer against Kafka's ProducerPerformance (1M events)
	$(PY) -m scripts.bench.produce

requirements: install ## Write each deployable folder's requirements.txt from pyproject.toml and uv.lock
	$(PY) -m scripts.packaging.requirements

bench-events: install ## Benchmark the event generator alone
	$(PY) -m scripts.bench.events

bench-validator: install ## The contract validator alone, CPU us per event for each generated kind (valid, each anomaly)
	$(PY) -m scripts.bench.validator $(ARGS)

clean: stack-down ## Remove runtime state under .local/ (keeps the installed tools)
	rm -rf .local/stack .local/lake .local/demo .local/bench .local/airflow .local/dist
