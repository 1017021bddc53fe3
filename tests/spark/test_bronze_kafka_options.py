"""The bronze Kafka source options (SASL credentials from the environment, the login module each runtime loads, the
stream settings from config) and the two trigger modes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config.settings import load_settings
from spark.jobs.bronze import DATABRICKS_PLAIN_LOGIN, PLAIN_LOGIN, kafka_options
from spark.jobs.common import with_trigger

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
    assert options["includeHeaders"] == "true"


def test_databricks_runtime_gets_its_relocated_login_module(eventhubs):
    options = kafka_options(eventhubs, environ={"DATABRICKS_RUNTIME_VERSION": "17.3"})
    assert DATABRICKS_PLAIN_LOGIN == "kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule"
    assert options["kafka.sasl.jaas.config"].startswith(f"{DATABRICKS_PLAIN_LOGIN} required ")


def test_plaintext_has_no_sasl_options(settings):
    assert settings.kafka.security.protocol == "PLAINTEXT"
    assert not {k for k in kafka_options(settings, environ={"DATABRICKS_RUNTIME_VERSION": "17.3"}) if "sasl" in k}


def test_stream_options_come_from_the_config_and_never_skip_lost_data(settings):
    stream = dataclasses.replace(settings.spark.stream, max_offsets_per_trigger=12_345, starting_offsets="latest")
    custom = dataclasses.replace(settings, spark=dataclasses.replace(settings.spark, stream=stream))
    assert settings.spark.stream.starting_offsets == "earliest"
    options = kafka_options(custom, environ={})
    assert options["maxOffsetsPerTrigger"] == "12345"
    assert options["startingOffsets"] == "latest"
    assert options["subscribe"] == settings.kafka.topic
    assert options["kafka.bootstrap.servers"] == settings.kafka.bootstrap_servers
    assert options["failOnDataLoss"] == "true"


class RecordingWriter:
    """Stands in for a DataStreamWriter: records the trigger it was given."""

    def __init__(self):
        self.trigger_kwargs = None

    def trigger(self, **kwargs):
        self.trigger_kwargs = kwargs
        return self


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("available-now", {"availableNow": True}), ("continuous", {"processingTime": "7 seconds"})],
)
def test_trigger_modes_map_to_spark_triggers(settings, mode, expected):
    stream = dataclasses.replace(settings.spark.stream, processing_time="7 seconds")
    custom = dataclasses.replace(settings, spark=dataclasses.replace(settings.spark, stream=stream))
    writer = RecordingWriter()
    assert with_trigger(writer, mode, custom) is writer
    assert writer.trigger_kwargs == expected
