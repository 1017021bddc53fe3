"""Whatever a DSN's password holds and however the DSN is broken, a connection error never shows any of it."""

from __future__ import annotations

import dataclasses
import os
import socket

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from postgres.connection import PostgresConnectError, connect
from tests.property_budget import examples

DSN_ENV = "LAKEHOUSE_TEST_REDACTION_DSN"
# Distinctive pieces of the password: any fragment libpq echoes back would carry one of them.
WORDS = ("Kq7w", "Zr9x", "Mv3p")
SEPARATORS = st.text(st.sampled_from("@/:?#%&=+ ;'\"\\$[],-_.~!*()"), max_size=3)
FORMS = {
    "uri": "postgresql://loader:{password}@127.0.0.1:{port}/lakehouse",
    "uri query": "postgresql://loader@127.0.0.1:{port}/lakehouse?password={password}",
    "key=value": "host=127.0.0.1 port={port} user=loader password={password}",
    "key=value quoted": "host=127.0.0.1 port={port} user=loader password='{password}'",
}


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def redaction_settings(settings: Settings) -> Settings:
    """The default config reading its DSN from a variable only this module sets (never the embedded server)."""
    return dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, dsn_env=DSN_ENV))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.sampled_from(sorted(FORMS)), separators=st.lists(SEPARATORS, min_size=4, max_size=4))
@example(form="uri", separators=["", "%", "zz", ""])
@example(form="uri", separators=["", "@", "/", ""])
@example(form="uri", separators=["", "/", "@", ""])
@example(form="uri", separators=["", "?", "/", ""])
@example(form="key=value", separators=["", " ", "=", ""])
def test_connect_error_never_shows_any_part_of_the_password(
    redaction_settings: Settings, closed_port: int, form: str, separators: list[str]
) -> None:
    password = "".join(part for pair in zip(separators, (*WORDS, ""), strict=True) for part in pair)
    os.environ[DSN_ENV] = FORMS[form].format(password=password, port=closed_port)
    try:
        with pytest.raises(PostgresConnectError) as raised:
            connect(redaction_settings, "test-redaction")
    finally:
        del os.environ[DSN_ENV]
    message = str(raised.value)
    assert not [word for word in WORDS if word in message], message
    assert DSN_ENV in message
