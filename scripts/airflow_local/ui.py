"""Usage: python -m scripts.airflow_local.ui [--airflow-home DIR] [--port N] | --stop

Starts Airflow 3's UI (`airflow api-server`: the UI, its REST API and the task logs) in the background on the
latest demo run's Airflow home (.local/demo/runs/<latest>/airflow) or --airflow-home, and prints its URL and
login. The DAG runs there are already in that home's database, so neither a scheduler nor a DAG processor is
started: the UI shows exactly the runs the demo made, with their real dates, durations and task logs. --stop
stops what the last start started, by pid, after checking that the pid is still that process.

Login: Airflow's Simple auth manager, user `admin`, with a password generated for the home into a 0600 file
(never printed): the UI listens on 127.0.0.1 only, but other users of the machine could still reach it, so it
is not opened to everyone as admin (simple_auth_manager_all_admins).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from scripts.airflow_local.run_dag import AIRFLOW, ROOT, pin_airflow_cfg

DEMO_RUNS = ROOT / ".local" / "demo" / "runs"
STATE_FILE = ROOT / ".local" / "demo" / "airflow-ui.json"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
"""Where Airflow's Simple auth manager reads its passwords by default ([core] simple_auth_manager_passwords_file)."""
USER = "admin"
HOST = "127.0.0.1"
DEFAULT_PORT = 8080
QUIET_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class UiProcess:
    """The api-server a start launched: its pid and start time (together they name exactly one process)."""

    pid: int
    create_time: float
    url: str
    airflow_home: str
    log: str


def latest_demo_home(runs: Path = DEMO_RUNS) -> Path:
    """The Airflow home of the newest demo run (run ids are UTC timestamps, so the last name is the newest)."""
    homes = sorted(p for p in runs.glob("*/airflow") if (p / "airflow.db").is_file())
    if not homes:
        raise SystemExit(f"error: no demo run with an Airflow database under {runs}: run `make demo` first")
    return homes[-1]


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens on it, else a port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise SystemExit("error: no free TCP port on 127.0.0.1")


def password_file(home: Path) -> Path:
    """The home's login file, created with a fresh admin password, readable by this user only."""
    path = home / PASSWORDS_FILE
    if not path.is_file() or USER not in json.loads(path.read_text(encoding="utf-8") or "{}"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({USER: secrets.token_urlsafe(16)}, file)
    path.chmod(0o600)
    return path


def password(home: Path) -> str:
    return json.loads(password_file(home).read_text(encoding="utf-8"))[USER]


def ui_env(home: Path, url: str) -> dict[str, str]:
    """The api-server's environment: this home, links to this URL, one worker (2 cores)."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "dags")]),
    }


def running(state: UiProcess) -> psutil.Process | None:
    """The recorded process if it still runs and is the one started (same pid and start time), else None."""
    try:
        process = psutil.Process(state.pid)
        same = abs(process.create_time() - state.create_time) < 0.01 and process.is_running()
    except psutil.Error:
        return None
    return process if same else None


def read_state(state_file: Path) -> UiProcess | None:
    if not state_file.is_file():
        return None
    return UiProcess(**json.loads(state_file.read_text(encoding="utf-8")))


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    """Until the API answers its health check; fail with the server's last log lines if it exits, or if it
    neither answers nor writes to its log for `timeout_s` (a slow start that makes progress is waited for)."""
    deadline, size = time.monotonic() + timeout_s, -1
    while time.monotonic() < deadline:
        if log.stat().st_size != size:
            deadline, size = time.monotonic() + timeout_s, log.stat().st_size
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
            raise SystemExit(
                f"error: airflow api-server exited with {process.returncode}; its log ({log}) ends:\n" + "\n".join(tail)
            )
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise SystemExit(f"error: airflow api-server did not answer {url} and logged nothing for {timeout_s} s; see {log}")


def start(home: Path, port: int, state_file: Path = STATE_FILE) -> UiProcess:
    """Start the api-server on `home`, or return the one `state_file` names if it already serves `home`; one it
    started on another home (an earlier demo run's) is stopped first."""
    previous = read_state(state_file)
    if previous and running(previous):
        if Path(previous.airflow_home) == home:
            return previous
        print(f"{stop(state_file)}, which showed {previous.airflow_home}")
    if not (home / "airflow.db").is_file():
        raise SystemExit(f"error: {home} has no airflow.db: pass the Airflow home of a DAG run (--airflow-home)")
    pin_airflow_cfg(home)
    password_file(home)
    port = free_port(port)
    url = f"http://{HOST}:{port}"
    log = home / "logs" / "api-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(AIRFLOW), "api-server", "--host", HOST, "--port", str(port), "--workers", "1"],
            env=ui_env(home, url),
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = UiProcess(process.pid, psutil.Process(process.pid).create_time(), url, str(home), str(log))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(asdict(state)) + "\n", encoding="utf-8")
    try:
        wait_healthy(process, url, log, QUIET_TIMEOUT_S)
    except SystemExit:
        stop(state_file)
        raise
    return state


def stop(state_file: Path = STATE_FILE) -> str:
    """Stop the api-server `state_file` names and its workers (its own process group), if it is still it."""
    state = read_state(state_file)
    if state is None:
        return "the Airflow UI is not running (no record of a start)"
    process = running(state)
    state_file.unlink()
    if process is None:
        return f"the Airflow UI (pid {state.pid}) had already stopped"
    os.killpg(state.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except psutil.TimeoutExpired:
        os.killpg(state.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)
    return f"stopped the Airflow UI (pid {state.pid}, {state.url})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.airflow_local.ui", description=__doc__.splitlines()[2])
    parser.add_argument("--airflow-home", type=Path, help="default: the latest demo run's")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default 8080, or a free one if taken")
    parser.add_argument("--stop", action="store_true", help="stop the UI the last start started")
    args = parser.parse_args(argv)
    if args.stop:
        print(stop())
        return 0
    home = (args.airflow_home or latest_demo_home()).resolve()
    state = start(home, args.port)
    print(f"Airflow UI:  {state.url}  (Airflow home {home})")
    print(f"login:       user {USER}, password in {home / PASSWORDS_FILE}")
    print("stop it:     make airflow-ui-stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
