"""stop_processes asks every process to stop before it waits for any: a KRaft quorum's nodes stop cleanly only
together, since a node asked alone waits for a majority that is no longer there."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scripts.stack import processes
from scripts.stack.processes import StackError, stop_processes

# A node that, asked to stop, finishes only once its peer has been asked too; it marks a clean exit.
NODE = """
import pathlib, signal, sys, time
asked, peer_asked, clean, ready = map(pathlib.Path, sys.argv[1:])
def stop(*_):
    asked.touch()
    while not peer_asked.exists():
        time.sleep(0.01)
    clean.touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
ready.touch()
while True:
    time.sleep(0.05)
"""


def _node(tmp_path: Path, name: str, peer: str) -> subprocess.Popen[bytes]:
    files = (f"{name}.asked", f"{peer}.asked", f"{name}.clean", f"{name}.ready")
    return subprocess.Popen([sys.executable, "-c", NODE, *(str(tmp_path / f) for f in files)])


def test_two_nodes_that_need_each_other_both_stop_cleanly(tmp_path: Path) -> None:
    nodes = [_node(tmp_path, "a", "b"), _node(tmp_path, "b", "a")]
    try:
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"{name}.ready").exists() for name in "ab"):
            assert time.monotonic() < deadline, "the nodes did not start"
            time.sleep(0.05)
        stop_processes([(psutil.Process(node.pid), signal.SIGTERM, 5.0) for node in nodes])
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
            node.wait(5)
    assert sorted(p.name for p in tmp_path.glob("*.clean")) == ["a.clean", "b.clean"], "a node was killed"


# A parent that starts a server and never reaps it, as a test worker that started the stack and lives on while
# another worker, the stack's last user, stops it.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "600"])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_process_another_live_process_started_counts_as_stopped_once_it_exits() -> None:
    """Its exit leaves a zombie until its own parent reaps it, which only the parent can: waiting for the pid to
    disappear sat out the whole grace period, then the kill's wait timed out and raised."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        server = psutil.Process(int(parent.stdout.readline()))
        started = time.monotonic()
        stop_processes([(server, signal.SIGTERM, 20.0)])
        assert time.monotonic() - started < 10.0, "stop_processes waited out the grace period for a zombie"
        assert server.status() == psutil.STATUS_ZOMBIE, "the server did not stop"
    finally:
        parent.kill()
        parent.wait(5)


def test_a_process_that_outlives_sigkill_is_named_after_the_others_are_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a process stuck in the kernel survives SIGKILL; the error names it and how to look at it, and the
    processes after it in the list are still killed."""
    stuck = subprocess.Popen(["sleep", "600"])
    stubborn = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    real_exits_by = processes._exits_by
    monkeypatch.setattr(
        processes, "_exits_by", lambda proc, deadline: proc.pid != stuck.pid and real_exits_by(proc, deadline)
    )
    try:
        with pytest.raises(StackError, match=rf"pid {stuck.pid} \(sleep\) did not exit 10 s after SIGKILL.*wchan"):
            stop_processes([(psutil.Process(p.pid), signal.SIGTERM, 0.5) for p in (stuck, stubborn)])
        assert not psutil.pid_exists(stubborn.pid), "the process after the stuck one was not killed (and reaped)"
    finally:
        for proc in (stuck, stubborn):
            proc.kill()
            proc.wait(5)


IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""
