"""A load killed after its COPY or cut off in its publish leaves the old data; a re-run completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest
from deltalake import DeltaTable

from config.settings import Settings
from postgres.mart_publish import load_marts, load_table
from tests.postgres.gold_fixtures import loaded_then_changed as gold_loaded_then_changed
from tests.postgres.gold_fixtures import user, write_gold
from tests.postgres.serving_rows import audit, serving_rows, stage_tables

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = "lakehouse-loader-crash-test"
CHILD = textwrap.dedent(
    """
    import sys, time
    import psycopg2
    from postgres.mart_publish import load_table

    dsn, uri, pause_at = sys.argv[1:4]
    conn = psycopg2.connect(dsn, application_name=sys.argv[4])

    def checkpoint(phase):
        print(phase, flush=True)
        if phase == pause_at:
            time.sleep(600)

    load_table(conn, "dim_users", uri, checkpoint=checkpoint)
    """
)

OLD = [user("u1", "1.00"), user("u2", "2.00"), user("u3", "3.00")]
NEW = [user("u1", "1.00"), user("u3", "30.00"), user("u4", "4.00")]


def _change_gold(uri: str) -> None:
    gold = DeltaTable(uri)
    gold.update(updates={"revenue_gbp": "CAST('30.00' AS DECIMAL(18,2))"}, predicate="user_id = 'u3'")
    gold.delete("user_id = 'u2'")
    write_gold(uri, "dim_users", [user("u4", "4.00")])


def _backends(dsn: str, application_name: str) -> int:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from pg_stat_activity where application_name = %s", (application_name,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def _wait_gone(dsn: str, application_name: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _backends(dsn, application_name):
        assert time.monotonic() < deadline, f"backend {application_name} still alive after {timeout_s}s"
        time.sleep(0.1)


@pytest.fixture
def gold_loaded_once(serving_db: str, load_settings_for: Callable[[str], Settings]) -> tuple[Settings, str]:
    """serving.dim_users holds OLD (gold version 0); gold has moved on to NEW (version 3)."""
    settings = load_settings_for(serving_db)
    return settings, gold_loaded_then_changed(settings, OLD, _change_gold)


def test_sigkill_between_copy_and_publish(serving_db: str, gold_loaded_once: tuple[Settings, str]) -> None:
    settings, uri = gold_loaded_once
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, serving_db, uri, "staged", APP],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "staged"
        assert serving_rows(serving_db, "dim_users") == OLD
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    _wait_gone(serving_db, APP)

    assert serving_rows(serving_db, "dim_users") == OLD
    assert stage_tables(serving_db) == []
    assert audit(serving_db, "dim_users") == [("full", 0, 3, 0, 0, "succeeded")]

    [result] = load_marts(settings, ["dim_users"])
    assert (result.mode, result.delta_version) == ("incremental", 3)
    assert serving_rows(serving_db, "dim_users") == NEW
    assert stage_tables(serving_db) == []
    assert audit(serving_db, "dim_users")[-1] == ("incremental", 3, 1, 1, 1, "succeeded")


def test_backend_terminated_during_publish(serving_db: str, gold_loaded_once: tuple[Settings, str]) -> None:
    settings, uri = gold_loaded_once
    conn = psycopg2.connect(serving_db, application_name=APP)
    seen_by_reader: list[list[dict]] = []

    def terminate_before_commit(phase: str) -> None:
        if phase != "published":
            return
        seen_by_reader.append(serving_rows(serving_db, "dim_users"))
        killer = psycopg2.connect(serving_db)
        killer.autocommit = True
        with killer.cursor() as cur:
            cur.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
        killer.close()

    with pytest.raises(psycopg2.OperationalError):
        load_table(conn, "dim_users", uri, checkpoint=terminate_before_commit)
    conn.close()

    assert seen_by_reader == [OLD]
    assert serving_rows(serving_db, "dim_users") == OLD
    assert stage_tables(serving_db) == []
    assert [row[:2] for row in audit(serving_db, "dim_users")] == [("full", 0)]

    [result] = load_marts(settings, ["dim_users"])
    assert (result.mode, result.delta_version) == ("incremental", 3)
    assert serving_rows(serving_db, "dim_users") == NEW
    assert stage_tables(serving_db) == []


def test_full_reload_readers_never_see_a_partial_table(serving_db: str, gold_loaded_once: tuple[Settings, str]) -> None:
    settings, uri = gold_loaded_once
    conn = psycopg2.connect(serving_db)
    seen: dict[str, list[dict]] = {}

    def read_while_loading(phase: str) -> None:
        seen[phase] = serving_rows(serving_db, "dim_users")

    result = load_table(conn, "dim_users", uri, full=True, checkpoint=read_while_loading)
    conn.close()
    assert result.mode == "full"
    assert seen == {"staged": OLD, "published": OLD}
    assert serving_rows(serving_db, "dim_users") == NEW
