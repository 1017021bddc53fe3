"""A vacuumed change feed falls back to a full load, logged; a feed that exists but cannot be read fails loudly."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.settings import Settings
from postgres.gold_source import GoldSourceError
from postgres.mart_publish import MartsNotPublished, load_marts
from tests.postgres.gold_fixtures import SAMPLE_ROWS, user, write_gold
from tests.postgres.gold_fixtures import loaded_then_changed as gold_loaded_then_changed
from tests.postgres.serving_rows import audit, serving_rows

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
OLD = [user("u1", "1.00"), user("u2", "2.00"), user("u3", "3.00")]
NEW = [user("u1", "1.00"), user("u3", "30.00"), user("u4", "4.00")]
NOBODY = 65534
READ_FEED = """
import sys
from postgres.gold_source import GoldSnapshot, GoldSourceError
try:
    print(GoldSnapshot.latest(sys.argv[1]).changes(0, ["user_id"], ["user_id"]))
except GoldSourceError as exc:
    print(exc)
    sys.exit(3)
"""


def _change_gold(uri: str) -> None:
    """Version 1 appends (its feed is its data file), 2 rewrites that file; 2-4 write _change_data files."""
    write_gold(uri, "dim_users", [user("u4", "0.40")])
    gold = DeltaTable(uri)
    gold.update(updates={"revenue_gbp": "CAST('4.00' AS DECIMAL(18,2))"}, predicate="user_id = 'u4'")
    gold.update(updates={"revenue_gbp": "CAST('30.00' AS DECIMAL(18,2))"}, predicate="user_id = 'u3'")
    gold.delete("user_id = 'u2'")


def _vacuum(uri: str) -> None:
    """Removes version 1's data file, which the feed of version 1 reads (delta-rs keeps _change_data)."""
    DeltaTable(uri).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)


def _delete_change_data(uri: str) -> None:
    for path in glob.glob(f"{uri}/_change_data/*"):
        os.remove(path)


def _clean_up_log(uri: str) -> None:
    """What delta.logRetentionDuration does: a checkpoint at the latest version, older commits deleted."""
    gold = DeltaTable(uri)
    gold.create_checkpoint()
    for version in range(gold.version()):
        os.remove(f"{uri}/_delta_log/{version:020d}.json")


def _corrupt_change_data(uri: str) -> None:
    for path in glob.glob(f"{uri}/_change_data/*"):
        Path(path).write_bytes(b"not a parquet file" * 8)


@pytest.fixture
def loaded_then_changed(serving_db: str, load_settings_for: Callable[[str], Settings]) -> tuple[Settings, str]:
    """serving.dim_users holds OLD from gold version 0; gold has moved on to NEW."""
    settings = load_settings_for(serving_db)
    return settings, gold_loaded_then_changed(settings, OLD, _change_gold)


@pytest.mark.parametrize("lose_feed", [_vacuum, _delete_change_data, _clean_up_log], ids=lambda f: f.__name__)
def test_a_feed_that_no_longer_exists_falls_back_to_a_full_load(
    serving_db: str,
    loaded_then_changed: tuple[Settings, str],
    lose_feed: Callable[[str], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, uri = loaded_then_changed
    lose_feed(uri)

    with caplog.at_level(logging.WARNING, logger="postgres.mart_publish"):
        [result] = load_marts(settings, ["dim_users"])

    version = DeltaTable(uri).version()
    assert (result.mode, result.delta_version) == ("full", version)
    assert f"change data feed of versions 1..{version} is no longer available" in result.reason
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)
    assert serving_rows(serving_db, "dim_users") == NEW
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == f"gold table {uri} falls back to a full load: {result.reason}"
    assert audit(serving_db, "dim_users")[-1] == ("full", version, 1, 1, 1, "succeeded")


def test_a_corrupt_feed_fails_that_mart_loudly_and_the_others_load(
    serving_db: str, loaded_then_changed: tuple[Settings, str]
) -> None:
    settings, uri = loaded_then_changed
    _corrupt_change_data(uri)
    write_gold(settings.storage.table_uri("gold", "dim_products"), "dim_products", SAMPLE_ROWS["dim_products"])

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings, ["dim_users", "dim_products"])

    [failure] = raised.value.failures
    assert failure.table == "dim_users" and isinstance(failure.error, GoldSourceError)
    assert f"the change data feed of gold table {uri}, versions 1..4, exists but cannot be read" in failure.message
    assert [(r.table, r.mode) for r in raised.value.results] == [("dim_products", "full")]
    assert serving_rows(serving_db, "dim_users") == OLD
    assert len(serving_rows(serving_db, "dim_products")) == len(SAMPLE_ROWS["dim_products"])
    assert audit(serving_db, "dim_users")[-1][-1] == "failed"


@pytest.fixture
def shared_lake() -> Iterator[Path]:
    """A lake directory another user can enter (pytest's tmp_path is private to its owner)."""
    lake = Path(tempfile.mkdtemp(prefix="lakehouse-perm-"))
    lake.chmod(0o755)
    yield lake
    shutil.rmtree(lake)


def test_an_unreadable_feed_is_a_platform_failure_not_a_fallback(shared_lake: Path) -> None:
    uri = str(shared_lake / "dim_users")
    write_gold(uri, "dim_users", OLD)
    _change_gold(uri)
    for root, dirs, files in os.walk(uri):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    for path in glob.glob(f"{uri}/_change_data/*"):
        os.chmod(path, 0)
    command = [sys.executable, "-c", READ_FEED, uri]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.fail("running as root, setpriv (util-linux) is needed to read as an unprivileged user")
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]

    child = subprocess.run(
        command, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True
    )

    assert child.returncode == 3, child.stdout + child.stderr
    assert f"the change data feed of gold table {uri}, versions 1..4, exists but cannot be read" in child.stdout
    assert "Permission denied" in child.stdout


def test_a_missing_gold_table_fails_that_mart_loudly(
    serving_db: str, load_settings_for: Callable[[str], Settings]
) -> None:
    settings = load_settings_for(serving_db)
    write_gold(settings.storage.table_uri("gold", "dim_products"), "dim_products", SAMPLE_ROWS["dim_products"])

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings, ["dim_users", "dim_products"])

    [failure] = raised.value.failures
    assert failure.table == "dim_users" and isinstance(failure.error, GoldSourceError)
    assert "does not exist: run the gold job first" in failure.message
    assert [r.table for r in raised.value.results] == ["dim_products"]
