"""make airflow-ui's pieces that need no server: the pinned airflow.cfg, the login file, and a stop that stops only
the process it started."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from scripts.airflow_local import ui
from scripts.airflow_local.run_dag import pin_options

GENERATED = """[core]
# The folder where your airflow pipelines live
dags_folder = /home/x/airflow/dags
executor = LocalExecutor
# load_examples = True
load_examples = True

[logging]
base_log_folder = /home/x/airflow/logs
"""


def test_pinning_replaces_keys_in_their_section_and_keeps_everything_else():
    pinned = pin_options(
        GENERATED,
        {("core", "dags_folder"): "/repo/dags", ("core", "load_examples"): "False", ("api", "workers"): "1"},
    )
    assert pinned.splitlines() == [
        "[core]",
        "# The folder where your airflow pipelines live",
        "dags_folder = /repo/dags",
        "executor = LocalExecutor",
        "# load_examples = True",
        "load_examples = False",
        "",
        "[logging]",
        "base_log_folder = /home/x/airflow/logs",
        "",
        "[api]",
        "workers = 1",
    ]
    assert pin_options(pinned, {("core", "dags_folder"): "/repo/dags"}) == pinned


def test_a_key_missing_from_its_section_is_added_under_the_header_not_elsewhere():
    cfg = "[logging]\nload_examples = True\n[core]\nexecutor = x\n"
    pinned = pin_options(cfg, {("core", "load_examples"): "False"})
    assert pinned == "[logging]\nload_examples = True\n[core]\nload_examples = False\nexecutor = x\n"


def test_the_login_file_is_private_and_keeps_its_password(tmp_path: Path):
    path = ui.password_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = ui.password(tmp_path)
    assert len(first) >= 16 and ui.password(tmp_path) == first
    assert json.loads(path.read_text()) == {ui.USER: first}


def test_the_latest_demo_home_is_the_newest_run_with_a_database(tmp_path: Path):
    for run, db in (("20260101T000000Z", True), ("20260301T000000Z", True), ("20260401T000000Z", False)):
        (tmp_path / run / "airflow").mkdir(parents=True)
        if db:
            (tmp_path / run / "airflow" / "airflow.db").touch()
    assert ui.latest_demo_home(tmp_path) == tmp_path / "20260301T000000Z" / "airflow"
    with pytest.raises(SystemExit, match="make demo"):
        ui.latest_demo_home(tmp_path / "none")


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)


def record(state_file: Path, process: subprocess.Popen[bytes], create_time: float | None = None) -> None:
    created = psutil.Process(process.pid).create_time() if create_time is None else create_time
    state = ui.UiProcess(process.pid, created, "http://127.0.0.1:1", "/nowhere", "/nowhere.log")
    state_file.write_text(json.dumps(state.__dict__))


def test_stop_stops_the_recorded_process_and_forgets_it(tmp_path: Path):
    state_file = tmp_path / "ui.json"
    process = sleeper()
    record(state_file, process)
    assert ui.stop(state_file).startswith(f"stopped the Airflow UI (pid {process.pid}")
    assert process.wait(10) is not None and not state_file.exists()
    assert "not running" in ui.stop(state_file)


def test_stop_leaves_alone_a_process_that_reuses_the_recorded_pid(tmp_path: Path):
    state_file = tmp_path / "ui.json"
    process = sleeper()
    try:
        record(state_file, process, create_time=psutil.Process(process.pid).create_time() - 3600)
        assert "already stopped" in ui.stop(state_file)
        assert process.poll() is None, "stop killed a process it did not start"
    finally:
        os.killpg(process.pid, 15)
        process.wait(10)
