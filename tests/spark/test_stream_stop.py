"""A continuous stream stops cleanly on Ctrl-C (SIGINT to the process group) and on SIGTERM (what a supervisor
sends the driver): exit 0, one line saying so, no traceback, and a checkpoint a restart resumes from."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable

from config.settings import DEFAULT_CONFIG, Settings, load_settings
from kafka.produce import produce_events
from spark.jobs.common import StopRequest, run_until_done

REPO = Path(__file__).resolve().parents[2]
EVENTS = 200


@pytest.fixture(scope="module")
def topic(settings: Settings, stack, tmp_path_factory) -> str:
    """A fresh topic holding EVENTS events."""
    kafka = dataclasses.replace(
        settings.kafka, bootstrap_servers=stack.bootstrap_servers, topic=f"it-stop-{uuid.uuid4().hex[:10]}"
    )
    produced = produce_events(
        dataclasses.replace(settings, kafka=kafka),
        count=EVENTS,
        seed=7,
        manifest_path=tmp_path_factory.mktemp("stop") / "manifest.json",
    )
    assert produced.result.delivered == EVENTS
    return kafka.topic


def write_config(stack, topic: str, lake: Path, path: Path) -> Settings:
    """local.yml pointed at this test's broker, topic and lake, with a small driver."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["kafka"].update(bootstrap_servers=stack.bootstrap_servers, topic=topic)
    raw["storage"] = {"lake_uri": str(lake), "checkpoint_uri": str(lake / "_checkpoints")}
    raw["spark"].update(master="local[2]", driver_memory="1g", shuffle_partitions=2)
    path.write_text(yaml.safe_dump(raw))
    return load_settings(path)


def batch_ids(checkpoint: Path, kind: str) -> list[int]:
    folder = checkpoint / kind
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


@pytest.mark.integration
@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_stops_a_continuous_stream_cleanly(stack, topic, tmp_path, signum, whole_group):
    settings = write_config(stack, topic, tmp_path / "lake", tmp_path / "config.yml")
    checkpoint = Path(settings.storage.checkpoint("bronze"))
    log = tmp_path / "bronze.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    command = [sys.executable, "-m", "spark.jobs.bronze", "--config", str(tmp_path / "config.yml")]
    with log.open("wb") as out:
        driver = subprocess.Popen(
            [*command, "--trigger", "continuous"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not batch_ids(checkpoint, "commits"):
            assert driver.poll() is None, f"bronze exited ({driver.returncode}) early: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no committed batch within 120 s"
            time.sleep(0.1)
        if whole_group:
            os.killpg(driver.pid, signum)
        else:
            os.kill(driver.pid, signum)
        code = driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()

    text = log.read_text()
    assert code == 0, text[-3000:]
    name = signal.Signals(signum).name
    assert f"{name} received: stopped the bronze stream cleanly (last batch 0)" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert batch_ids(checkpoint, "offsets") == batch_ids(checkpoint, "commits") == [0]
    bronze = DeltaTable(settings.storage.table_uri("bronze", "events")).to_pyarrow_table(
        columns=["partition", "offset"]
    )
    assert bronze.num_rows == len(set(zip(*bronze.to_pydict().values(), strict=True))) == EVENTS


class FakeQuery:
    """Terminates by itself after `runs_for` waits, or on stop(); `signal_on` sends this process a signal."""

    name = "fake"
    id = "fake-id"

    def __init__(
        self,
        runs_for: int = 100,
        signal_on: dict[int, int] | None = None,
        failure: Exception | None = None,
        batch_until: int = 0,
    ):
        self.waits, self.runs_for, self.signal_on, self.failure = 0, runs_for, signal_on or {}, failure
        self.batch_until, self.stopped_after = batch_until, None
        self.lastProgress = {"batchId": 4}

    @property
    def stopped(self) -> bool:
        return self.stopped_after is not None

    @property
    def status(self) -> dict[str, object]:
        return {"isTriggerActive": self.waits < self.batch_until}

    def awaitTermination(self, timeout: float | None = None) -> bool:
        self.waits += 1
        if self.waits in self.signal_on:
            os.kill(os.getpid(), self.signal_on[self.waits])
        if self.failure is not None and self.waits >= self.runs_for:
            raise self.failure
        return self.stopped or self.waits >= self.runs_for

    def stop(self) -> None:
        self.stopped_after = self.waits


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_stops_the_query_and_restores_the_handlers(signum, capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    query = FakeQuery(signal_on={3: signum})
    run_until_done(query, poll_s=0.01)
    assert query.stopped and query.waits == 4
    err = capsys.readouterr().err
    assert err == (
        f"{signal.Signals(signum).name} received: stopped the fake stream cleanly (last batch 4); "
        "a restart resumes from its checkpoint\n"
    )
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_running_batch_finishes_before_the_stop(capsys):
    query = FakeQuery(signal_on={2: signal.SIGTERM}, batch_until=6)
    run_until_done(query, poll_s=0.01)
    assert query.stopped_after == 6
    assert "SIGTERM received: stopped the fake stream cleanly" in capsys.readouterr().err


def test_a_query_that_ends_by_itself_is_not_stopped(capsys):
    query = FakeQuery(runs_for=3)
    run_until_done(query, poll_s=0.01)
    assert not query.stopped and query.waits == 3
    assert capsys.readouterr().err == ""


def test_a_query_failure_propagates_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError, match="batch 7 failed"):
        run_until_done(FakeQuery(runs_for=2, failure=RuntimeError("batch 7 failed")), poll_s=0.01)
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_second_signal_exits_at_once(monkeypatch):
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    request = StopRequest()
    request(signal.SIGTERM, None)
    assert request.signum == signal.SIGTERM and exits == []
    request(signal.SIGINT, None)
    assert exits == [128 + signal.SIGINT]
