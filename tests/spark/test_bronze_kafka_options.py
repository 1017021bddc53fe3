"""The bronze Kafka source options: SASL credentials from the environment, and the login module each runtime loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from spark.jobs.bronze import DATABRICKS_PLAIN_LOGIN, PLAIN_LOGIN, kafka_options

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SECRET_ENV = "LAKEHOUSE_LOCAL_EVENTHUBS_CONNECTION_STRING"


@pytest.fixture
def eventhubs(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, 'Endpoint=sb://ns/;SharedAccessKey=k"ey\\x')
    return load_settings(CONFIG_DIR / "local-eventhubs.yml")


def test_sasl_options_name_the_stock_login_module_and_escape_the_secret(eventhubs):
    options = kafka_options(eventhubs, environ={})
    assert options["kafka.security.protocol"] == "SASL_PLAINTEXT"
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    assert options["kafka.sasl.jaas.config"] == (
        f'{PLAIN_LOGIN} required username="$ConnectionString" password="Endpoint=sb://ns/;SharedAccessKey=k\\"ey\\\\x";'
    )
    assert options["failOnDataLoss"] == "true"


def test_databricks_runtime_gets_its_relocated_login_module(eventhubs):
    options = kafka_options(eventhubs, environ={"DATABRICKS_RUNTIME_VERSION": "17.3"})
    assert DATABRICKS_PLAIN_LOGIN == "kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule"
    assert options["kafka.sasl.jaas.config"].startswith(f"{DATABRICKS_PLAIN_LOGIN} required ")


def test_plaintext_has_no_sasl_options(settings):
    assert settings.kafka.security.protocol == "PLAINTEXT"
    assert not {k for k in kafka_options(settings, environ={"DATABRICKS_RUNTIME_VERSION": "17.3"}) if "sasl" in k}
