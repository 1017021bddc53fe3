"""The demo never shows the serving password: not on stdout or stderr, not in summary.json, not in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import ConfigError, Settings
from kafka.admin import delete_topics
from scripts import demo

PASSWORD = "pw-S3cret!@/ x"
ENCODED = "pw-S3cret%21%40%2F%20x"
ISOLATED_VARS = ("LAKEHOUSE_TOPIC", "LAKEHOUSE_LAKE_URI", "LAKEHOUSE_CHECKPOINT_URI", "AIRFLOW__LOGGING__LOGGING_LEVEL")


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (
            f"postgresql://lakehouse:{ENCODED}@db.example.com:5432/lakehouse?sslmode=require",
            "user=lakehouse password=*** dbname=lakehouse host=db.example.com port=5432 sslmode=require",
        ),
        (f"postgresql://db.example.com/lakehouse?user=lakehouse&password={ENCODED}", None),
        ("host=db.example.com user=lakehouse password='pw-S3cret!@/ x' dbname=lakehouse", None),
        (f"host=db user=lakehouse sslkey=/k.pem sslpassword='{PASSWORD}' dbname=lakehouse", None),
    ],
)
def test_a_dsn_is_shown_with_its_secrets_replaced(settings: Settings, monkeypatch, dsn: str, shown: str | None):
    monkeypatch.setenv(settings.postgres.dsn_env, dsn)
    redacted = demo.redacted_dsn(settings)
    assert "***" in redacted
    assert PASSWORD not in redacted and ENCODED not in redacted and "S3cret" not in redacted
    if shown is not None:
        assert redacted == shown
    command = demo.psql_command(settings, redacted)
    assert command.startswith(f'psql "${settings.postgres.dsn_env}" -c ') and command.endswith(f"  # {redacted}")


def test_a_dsn_without_a_password_is_shown_as_it_is(settings: Settings, monkeypatch):
    monkeypatch.setenv(settings.postgres.dsn_env, "postgresql://lakehouse@db.example.com/lakehouse")
    assert demo.redacted_dsn(settings) == "postgresql://lakehouse@db.example.com/lakehouse"


def isolate(monkeypatch, tmp_path: Path) -> None:
    """The demo writes under DEMO_DIR and sets its run's variables in os.environ: keep both to this test."""
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "demo")
    for name in ISOLATED_VARS:
        monkeypatch.setenv(name, "placeholder")


def test_an_unparseable_dsn_stops_the_demo_without_echoing_it(settings: Settings, monkeypatch, tmp_path, capsys):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv(settings.postgres.dsn_env, "postgresql://lakehouse:pw-S3cret%zz@db/lakehouse")

    def no_broker(*args, **kwargs):
        raise AssertionError("the demo reached the broker with an unusable DSN")

    monkeypatch.setattr(demo, "forget_earlier_runs", no_broker)
    assert demo.main(["--events", "10"]) == 2
    out, err = capsys.readouterr()
    assert "S3cret" not in out + err
    assert err.startswith(f"error: libpq cannot parse the DSN in environment variable {settings.postgres.dsn_env}")
    with pytest.raises(ConfigError) as caught:
        demo.redacted_dsn(settings)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.integration
def test_the_demo_prints_and_writes_no_password(stack, settings: Settings, monkeypatch, tmp_path, capsys):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv(settings.postgres.dsn_env, f"postgresql://lakehouse:{ENCODED}@127.0.0.1:5433/lakehouse")
    monkeypatch.setattr(demo, "forget_earlier_runs", lambda settings, keep: None)  # other runs' topics stay
    monkeypatch.setattr(demo.spark_archive, "build_archive", lambda output: output)
    dag_runs = []
    monkeypatch.setattr(demo.run_dag, "main", lambda argv: dag_runs.append(argv) or 1)
    try:
        assert demo.main(["--events", "300"]) == 1  # the DAG run is stubbed out as failed
    finally:
        topic = demo.os.environ["LAKEHOUSE_TOPIC"]
        if topic.startswith("demo-"):
            delete_topics(settings, [topic])
    out, err = capsys.readouterr()
    assert len(dag_runs) == 1
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["postgres"] == "user=lakehouse password=*** dbname=lakehouse host=127.0.0.1 port=5433"
    assert f'psql "${settings.postgres.dsn_env}" -c ' in out and "password=***" in out
    written = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert any(path.name == "manifest.json" for path in written)
    for secret in (PASSWORD, ENCODED, "S3cret"):
        assert secret not in out and secret not in err
        assert [path for path, data in written.items() if secret.encode() in data] == []
