"""The config loader: typed, validated, secrets only from the environment."""

from pathlib import Path

import pytest

from config import ConfigError, load_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.yml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
environment: test
kafka:
  bootstrap_servers: localhost:${TEST_KAFKA_PORT:-9092}
  topic: events
postgres:
  dsn_env: TEST_PG_DSN
storage:
  lake_uri: abfss://lake@acct.dfs.core.windows.net/lakehouse
  checkpoint_uri: abfss://lake@acct.dfs.core.windows.net/_checkpoints
"""


def test_local_config_loads_with_typed_values():
    settings = load_settings(CONFIG_DIR / "local.yml")
    assert settings.environment == "local"
    assert isinstance(settings.kafka.partitions, int)
    assert isinstance(settings.stack.postgres.port, int)
    assert settings.kafka.security.protocol == "PLAINTEXT"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIG_DIR.glob("*.yml")))
def test_every_shipped_config_is_valid_once_its_variables_are_set(name, monkeypatch):
    text = (CONFIG_DIR / name).read_text(encoding="utf-8")
    import re

    for var in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)):
        monkeypatch.setenv(var, f"value-of-{var}")
    settings = load_settings(CONFIG_DIR / name)
    assert settings.kafka.topic


def test_env_default_is_typed_and_overridable(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL)
    assert load_settings(path).kafka.bootstrap_servers == "localhost:9092"
    monkeypatch.setenv("TEST_KAFKA_PORT", "19092")
    assert load_settings(path).kafka.bootstrap_servers == "localhost:19092"


def test_whole_value_reference_keeps_its_type(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL.replace("  topic: events", "  topic: events\n  partitions: ${TEST_PARTS:-3}"))
    assert load_settings(path).kafka.partitions == 3
    monkeypatch.setenv("TEST_PARTS", "12")
    assert load_settings(path).kafka.partitions == 12


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = write(tmp_path, MINIMAL.replace("  topic: events", "  topic: events\n  partitons: 3"))
    with pytest.raises(ConfigError, match=r"unknown key 'kafka\.partitons'") as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_missing_required_key_is_named(tmp_path):
    path = write(tmp_path, MINIMAL.replace("  topic: events\n", ""))
    with pytest.raises(ConfigError, match=r"missing required key 'kafka\.topic'"):
        load_settings(path)


def test_wrong_type_is_named(tmp_path):
    path = write(tmp_path, MINIMAL.replace("  topic: events", "  topic: events\n  partitions: many"))
    with pytest.raises(ConfigError, match=r"'kafka\.partitions' must be an integer"):
        load_settings(path)


def test_enum_value_is_checked(tmp_path):
    text = MINIMAL.replace("  topic: events", "  topic: events\n  security:\n    protocol: SSL_TYPO")
    with pytest.raises(ConfigError, match=r"'kafka\.security\.protocol' is 'SSL_TYPO'; expected one of"):
        load_settings(write(tmp_path, text))


def test_unset_required_variable_is_an_error_not_an_empty_string(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_TOPIC", raising=False)
    path = write(tmp_path, MINIMAL.replace("topic: events", "topic: ${TEST_TOPIC}"))
    with pytest.raises(ConfigError, match=r"key 'kafka\.topic' needs environment variable TEST_TOPIC"):
        load_settings(path)


def test_missing_postgres_dsn_without_local_stack_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_PG_DSN", raising=False)
    settings = load_settings(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match="TEST_PG_DSN"):
        settings.postgres_dsn()
    monkeypatch.setenv("TEST_PG_DSN", "postgresql://u@db.example/x")
    assert settings.postgres_dsn() == "postgresql://u@db.example/x"


def test_embedded_postgres_when_no_dsn_in_environment(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_POSTGRES_DSN", raising=False)
    settings = load_settings(CONFIG_DIR / "local.yml")
    assert settings.uses_embedded_postgres()
    assert settings.postgres_dsn().startswith("postgresql://postgres@127.0.0.1:")


def test_cloud_uris_pass_through_and_local_paths_become_absolute(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.storage.table_uri("silver", "events") == (
        "abfss://lake@acct.dfs.core.windows.net/lakehouse/silver/events"
    )
    local = load_settings(CONFIG_DIR / "local.yml")
    assert Path(local.storage.table_uri("bronze", "events")).is_absolute()


def test_missing_file_says_how_to_choose_one(tmp_path):
    with pytest.raises(ConfigError, match="LAKEHOUSE_CONFIG"):
        load_settings(tmp_path / "nope.yml")


def test_sasl_secret_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_EH_SECRET", raising=False)
    text = MINIMAL.replace(
        "  topic: events",
        "  topic: events\n  security:\n    protocol: SASL_SSL\n    sasl_mechanism: PLAIN\n"
        "    sasl_username: $ConnectionString\n    sasl_password_env: TEST_EH_SECRET",
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.kafka.security.sasl_username == "$ConnectionString"
    with pytest.raises(ConfigError, match="TEST_EH_SECRET"):
        settings.kafka.security.sasl_password()
