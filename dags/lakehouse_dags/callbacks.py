"""Failure and deadline alerts as Airflow notifiers: one log line an operator can grep, and a webhook post when a
connection is configured."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

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
    """POST {"text": ...} with the standard library: the HTTP provider's HttpNotifier would do it, but that provider
    is not in the dags group, and one JSON post does not justify it (and aiohttp) on every worker and triggerer."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
        response.read()


class WebhookAlert(BaseNotifier):
    """Logs an alert line and posts it to airflow.alert_conn_id's webhook, and never raises: BaseNotifier re-raises,
    and a failed alert must not hide the failure it reports."""

    headline: str
    line: Callable[[dict[str, Any]], str]

    def __init__(self, alert_conn_id: str | None = None, context: dict[str, Any] | None = None) -> None:
        super().__init__(context)
        self.alert_conn_id = alert_conn_id

    def logged_line(self, context: dict[str, Any]) -> str:
        try:
            line = self.line(context)
        except Exception as exc:
            line = f"{self.headline} (context unreadable: {exc!r})"
        log.error(line)
        return line

    def not_posted(self, exc: Exception) -> None:
        log.error("alert webhook %s not posted: %s", self.alert_conn_id, exc)


class TaskFailureAlert(WebhookAlert):
    """on_failure_callback: Airflow calls it with the task's context in the task's own process."""

    headline = "LAKEHOUSE TASK FAILED"
    line = staticmethod(alert_line)

    def notify(self, context: dict[str, Any]) -> None:
        line = self.logged_line(context)
        if not self.alert_conn_id:
            return
        try:
            post_alert(webhook_url(self.alert_conn_id), line)
        except Exception as exc:
            self.not_posted(exc)


class DeadlineMissedAlert(WebhookAlert):
    """DeadlineAlert callback: the triggerer builds it with the run's context and awaits it (async_notify)."""

    headline = "LAKEHOUSE DEADLINE MISSED"
    line = staticmethod(deadline_line)

    async def async_notify(self, context: dict[str, Any]) -> None:
        line = self.logged_line(context)
        if not self.alert_conn_id:
            return
        try:
            connection = await BaseHook.aget_connection(self.alert_conn_id)
            await asyncio.to_thread(post_alert, checked_webhook(self.alert_conn_id, connection.host), line)
        except Exception as exc:
            self.not_posted(exc)
