"""Usage: python -m scripts.airflow_local.screenshots [--airflow-home DIR] [--out DIR] [--task TASK_ID]

PNG pictures of a DAG run in Airflow's UI, taken with headless Chromium (Debian's `chromium`) through the
DevTools protocol: the DAG's graph with the run's task states, the run's grid, and one task's log. Uses the UI
`make airflow-ui` started, else starts one on the latest demo run's home (--airflow-home) and stops it after.
The UI is behind a login: the script gets a token from the auth endpoint and hands it to the page as the
`_token` cookie, as the UI's own login does. Pictures go to .local/demo/screenshots/ (graph.png, grid.png,
task_log.png).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from scripts.airflow_local import ui

OUT = ui.ROOT / ".local" / "demo" / "screenshots"
DAG_ID = "lakehouse_pipeline"
WINDOW = (1600, 1000)
RENDER_TIMEOUT_S = 60
BROWSER_START_TIMEOUT_S = 30
SETTLE_S = 3
"""After the page shows what it waits for: the graph's layout and the log's lines arrive a moment later."""
LOG_END = "[DAG TEST] end task task_id="
"""The last line of every finished task's log (scripts.airflow_local.dag_test_logged): the log viewer shows a
log's end."""


def api(url: str, path: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def token(url: str, home: Path) -> str:
    """A UI session token, from the same auth endpoint and login the UI's own login form uses."""
    return api(url, "/auth/token", body={"username": ui.USER, "password": ui.password(home)})["access_token"]


class DevTools:
    """A minimal Chrome DevTools protocol client on one page: send a command, wait for its answer."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def __call__(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=RENDER_TIMEOUT_S))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        return self("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def open(self, url: str, wait_for: str) -> None:
        """Navigate and wait until the page's text contains `wait_for` (the React app renders after load)."""
        self("Page.navigate", url=url)
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while time.monotonic() < deadline:
            if wait_for in (self.evaluate("document.body ? document.body.innerText : ''") or ""):
                time.sleep(SETTLE_S)
                return
            time.sleep(0.5)
        raise SystemExit(f"error: {url} did not show {wait_for!r} within {RENDER_TIMEOUT_S} s")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self("Page.captureScreenshot", format="png")["data"]))
        return path


@contextlib.contextmanager
def chromium() -> Iterator[DevTools]:
    """Headless Chromium on a throwaway profile, and a DevTools client on its first page."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("error: chromium not found: install Debian's package (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as profile:
        process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + BROWSER_START_TIMEOUT_S
            while not port_file.is_file() or not port_file.read_text().strip():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"error: {binary} did not start its DevTools endpoint")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as socket:
                yield DevTools(socket)
        finally:
            process.terminate()
            process.wait(30)


@contextlib.contextmanager
def ui(home: Path) -> Iterator[str]:
    """The running `make airflow-ui` on `home`, else one started for these pictures and stopped after."""
    state = ui.read_state(ui.STATE_FILE)
    if state and ui.running(state) and Path(state.airflow_home) == home:
        yield state.url
        return
    state_file = Path(tempfile.mkdtemp(prefix="airflow-ui-")) / "state.json"
    state = ui.start(home, ui.DEFAULT_PORT, state_file)
    try:
        yield state.url
    finally:
        ui.stop(state_file)


def take(home: Path, out: Path, task_id: str | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with ui(home) as url:
        session = token(url, home)
        runs = api(url, f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=-run_after&limit=1", session)["dag_runs"]
        if not runs:
            raise SystemExit(f"error: {home} has no run of {DAG_ID}: run `make demo` first")
        run_id = runs[0]["dag_run_id"]
        run_path = f"/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"
        tis = api(url, f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances", session)
        failed = [t["task_id"] for t in tis["task_instances"] if t["state"] == "failed"]
        task = task_id or (failed[0] if failed else "silver")
        with chromium() as page:
            page("Network.enable")
            page("Network.setCookie", name="_token", value=session, url=url, path="/")
            page("Page.enable")
            pictures = []
            for view, name in (("graph", "graph.png"), ("grid", "grid.png")):
                page.open(url + "/", wait_for="Dags")
                page.evaluate(f"localStorage.setItem('default_dag_view', JSON.stringify({json.dumps(view)}))")
                page.open(url + run_path, wait_for="bronze")
                pictures.append(page.screenshot(out / name))
            page.open(f"{url}{run_path}/tasks/{task}", wait_for=LOG_END)
            pictures.append(page.screenshot(out / "task_log.png"))
    return pictures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.airflow_local.screenshots", description=__doc__.splitlines()[2]
    )
    parser.add_argument("--airflow-home", type=Path, help="default: the latest demo run's")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--task", help="the task whose log to show (default: the first failed task, else silver)")
    args = parser.parse_args(argv)
    home = (args.airflow_home or ui.latest_demo_home()).resolve()
    for picture in take(home, args.out, args.task):
        print(picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
