"""A load blocked by another session's lock fails within lock_timeout, naming the table and the blocking query."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from psycopg2.extensions import connection

from config.settings import Settings
from postgres.mart_publish import MartsNotPublished, PublishBlockedError, load_marts, load_table
from tests.postgres.gold_fixtures import SAMPLE_ROWS, loaded_then_changed, user, write_gold
from tests.postgres.serving_rows import serving_rows

pytestmark = pytest.mark.integration

OLD = [user("u1", "1.00"), user("u2", "2.00")]
NEW = [user("u1", "1.00"), user("u2", "20.00"), user("u3", "3.00")]
BLOCKER_APP = "lock-test-blocker"


@pytest.fixture
def gold_ahead(serving_db: str, load_settings_for: Callable[[str], Settings]) -> tuple[Settings, str]:
    """serving.dim_users holds OLD; gold has moved on to NEW."""
    settings = load_settings_for(serving_db)
    return settings, loaded_then_changed(settings, OLD, lambda uri: write_gold(uri, "dim_users", NEW, mode="overwrite"))


@pytest.fixture
def blocker(serving_db: str) -> Iterator[connection]:
    """A second session; whatever it locks is held until the test ends."""
    conn = psycopg2.connect(serving_db, application_name=BLOCKER_APP)
    yield conn
    conn.close()


@pytest.fixture
def loader_conn(serving_db: str) -> Iterator[connection]:
    """The loader's session with a 1 s lock_timeout."""
    conn = psycopg2.connect(serving_db)
    with conn.cursor() as cur:
        cur.execute("set lock_timeout = '1s'")
    conn.commit()
    yield conn
    conn.close()


def _hold(blocker: connection, statement: str) -> int:
    with blocker.cursor() as cur:
        cur.execute(statement)
    return blocker.info.backend_pid


@pytest.mark.parametrize(
    ("statement", "lock"),
    [
        ("lock table serving.dim_users in exclusive mode", "ExclusiveLock on serving.dim_users"),
        ("lock table serving.dim_users in access exclusive mode", "AccessExclusiveLock on serving.dim_users"),
        ("select * from serving.dim_users where user_id = 'u2' for update", "RowShareLock on serving.dim_users"),
        (
            "select pg_advisory_xact_lock(hashtext('lakehouse.load.dim_users'))",
            "the load lock of serving.dim_users (another load)",
        ),
    ],
    ids=["exclusive", "access-exclusive", "row-lock", "another-load"],
)
def test_a_blocked_load_names_the_blocking_session_and_query(
    serving_db: str,
    gold_ahead: tuple[Settings, str],
    blocker: connection,
    loader_conn: connection,
    statement: str,
    lock: str,
) -> None:
    _, uri = gold_ahead
    pid = _hold(blocker, statement)
    started = time.monotonic()

    with pytest.raises(PublishBlockedError) as raised:
        load_table(loader_conn, "dim_users", uri)

    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith(
        "serving.dim_users was not loaded: a lock it needs was not granted within lock_timeout (1s)"
    )
    assert f"blocked by pid {pid} (application '{BLOCKER_APP}', idle in transaction" in message
    assert f"holds {lock}) running: {statement}" in message
    assert "pg_terminate_backend" in message
    blocker.rollback()
    assert serving_rows(serving_db, "dim_users") == OLD
    load_table(loader_conn, "dim_users", uri)
    assert serving_rows(serving_db, "dim_users") == NEW


def test_a_reader_in_an_open_transaction_does_not_block_the_publish(
    serving_db: str, gold_ahead: tuple[Settings, str], blocker: connection, loader_conn: connection
) -> None:
    _, uri = gold_ahead
    _hold(blocker, "select count(*) from serving.dim_users")

    load_table(loader_conn, "dim_users", uri)

    assert serving_rows(serving_db, "dim_users") == NEW


def test_a_blocked_mart_does_not_hold_back_the_others(
    serving_db: str, gold_ahead: tuple[Settings, str], blocker: connection
) -> None:
    settings, _ = gold_ahead
    settings = dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, lock_timeout_s=1))
    write_gold(settings.storage.table_uri("gold", "dim_products"), "dim_products", SAMPLE_ROWS["dim_products"])
    pid = _hold(blocker, "lock table serving.dim_users in exclusive mode")

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings, ["dim_users", "dim_products"])

    [failure] = raised.value.failures
    assert isinstance(failure.error, PublishBlockedError)
    assert f"blocked by pid {pid}" in failure.message
    assert [r.table for r in raised.value.results] == ["dim_products"]
    assert serving_rows(serving_db, "dim_users") == OLD
    assert len(serving_rows(serving_db, "dim_products")) == len(SAMPLE_ROWS["dim_products"])
