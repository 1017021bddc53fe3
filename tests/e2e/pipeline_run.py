"""What the end-to-end tests share: the scratch database and the record of the session's one DAG run."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from config.settings import Settings
from kafka.produce import ProduceRun


@dataclass(frozen=True)
class PipelineRun:
    """What the shared DAG run left: its settings, the environment variables that isolate it (the DSN is read
    from the environment at each use), its folder, the producer's run, the DAG's exit code and output."""

    settings: Settings
    isolation: dict[str, str]
    run_dir: Path
    airflow_home: Path
    produced: ProduceRun
    dag: subprocess.CompletedProcess[str]


@contextlib.contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    """URI of an empty database on the stack's server (Airflow connections need a URI), dropped on exit."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(make_dsn(server_dsn, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.close()
