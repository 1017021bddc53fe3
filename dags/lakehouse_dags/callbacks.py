"""Failure alerts: one log line an operator can grep, and a webhook post when a connection is configured."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from typing import Any

log = logging.getLogger("lakehouse.alerts")
WEBHOOK_TIMEOUT_S = 10


def alert_line(context: dict[str, Any]) -> str:
    """DAG, task, run id, try number and exception of a failed task instance, on one line."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    error = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
    error = " ".join(error.split())
    return (
        f"LAKEHOUSE TASK FAILED dag={getattr(ti, 'dag_id', '?')} task={getattr(ti, 'task_id', '?')} "
        f"run_id={getattr(ti, 'run_id', '?')} try={getattr(ti, 'try_number', '?')} error={error}"
    )


def deadline_line(context: dict[str, Any]) -> str:
    """DAG, run id, state, when the run was queued and the deadline it missed, on one line."""
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    return (
        f"LAKEHOUSE DEADLINE MISSED dag={run.get('dag_id', '?')} run_id={run.get('dag_run_id', '?')} "
        f"state={run.get('state', '?')} queued_at={run.get('queued_at', '?')} "
        f"deadline={deadline.get('deadline_time', '?')}"
    )


def webhook_url(alert_conn_id: str) -> str:
    """The webhook URL: the Airflow connection's host, which must be a full http(s):// URL."""
    from airflow.sdk import BaseHook

    return checked_webhook(alert_conn_id, BaseHook.get_connection(alert_conn_id).host)


def checked_webhook(alert_conn_id: str, host: str | None) -> str:
    host = host or ""
    if not host.startswith(("https://", "http://")):
        raise ValueError(
            f"Airflow connection {alert_conn_id} (airflow.alert_conn_id) must have the full webhook URL "
            f"as its host, e.g. https://hooks.example.com/..., got {host[:40]!r}"
        )
    return host


def post_alert(url: str, text: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
        response.read()


def alert_on_failure(context: dict[str, Any], alert_conn_id: str | None = None) -> None:
    """on_failure_callback: log the alert line, post it if a webhook is configured, never raise."""
    try:
        line = alert_line(context)
    except Exception as exc:
        line = f"LAKEHOUSE TASK FAILED (context unreadable: {exc!r})"
    log.error(line)
    if not alert_conn_id:
        return
    try:
        post_alert(webhook_url(alert_conn_id), line)
    except Exception as exc:
        log.error("alert webhook %s not posted: %s", alert_conn_id, exc)


async def alert_on_deadline(context: dict[str, Any] | None = None, alert_conn_id: str | None = None) -> None:
    """DeadlineAlert callback, run by the triggerer: the same log line and webhook path as a failed task, and
    like it never raises (a failed post is logged)."""
    try:
        line = deadline_line(context or {})
    except Exception as exc:
        line = f"LAKEHOUSE DEADLINE MISSED (context unreadable: {exc!r})"
    log.error(line)
    if not alert_conn_id:
        return
    try:
        from airflow.sdk import BaseHook

        connection = await BaseHook.aget_connection(alert_conn_id)
        await asyncio.to_thread(post_alert, checked_webhook(alert_conn_id, connection.host), line)
    except Exception as exc:
        log.error("alert webhook %s not posted: %s", alert_conn_id, exc)
