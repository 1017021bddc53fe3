"""Detached local service processes tracked by pid files, so the stack can find, trust and stop its own."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

# Kept referenced: services outlive the caller by design, and a collected Popen of a live child warns.
_SPAWNED: list[subprocess.Popen[bytes]] = []


class StackError(RuntimeError):
    """A local service could not be started, checked or stopped; the message says what to do."""


@dataclass(frozen=True)
class Port:
    """A TCP port a service listens on, with where the user changes it."""

    number: int
    key: str
    env_var: str


def display_path(path: Path) -> str:
    """The path relative to the working directory when it lies under it, so messages stay short."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def port_in_use(port: int) -> bool:
    """True when something on this machine already holds the TCP port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_answers(port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to 127.0.0.1:port is accepted."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def ensure_ports_free(service: str, ports: Sequence[Port], source: str) -> None:
    """Fail before starting anything when another process already holds one of the service's ports."""
    for port in ports:
        if port_in_use(port.number):
            raise StackError(
                f"cannot start {service}: port {port.number} on 127.0.0.1 is already in use by another "
                f"process; {port_advice(port, source)}"
            )


def port_advice(port: Port, source: str) -> str:
    """Where to change the port: its environment variable when the config reads one there (config/local.yml
    does), else the key itself (config/local-cluster.yml sets literal ports)."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError:
        text = ""
    if f"${{{port.env_var}" in text:
        return (
            f"it is set by {port.key} in {source}, default from ${port.env_var}: stop that process, or pick a "
            f"free port, e.g. `export {port.env_var}=<free port>`, and run again"
        )
    return f"it is set by {port.key} in {source}: stop that process, or set a free port there, and run again"


def log_tail(log_file: Path, lines: int = 15) -> str:
    """The last lines of a log, indented, for error messages."""
    if not log_file.is_file():
        return "    (no log written)"
    with log_file.open("rb") as handle:
        handle.seek(max(0, log_file.stat().st_size - 64_000))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


class PidFile:
    """One service's pid file: trusted only while its process lives and runs the command we started."""

    def __init__(self, path: Path, matches: Callable[[list[str]], bool]):
        self.path = path
        self._matches = matches

    def process(self) -> psutil.Process | None:
        """The live process the pid file names if it is still the one we started, else None."""
        try:
            pid = int(self.path.read_text(encoding="ascii").strip())
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or not self._matches(proc.cmdline()):
                return None
            return proc
        except (FileNotFoundError, ValueError, psutil.Error):
            return None

    def write(self, pid: int) -> None:
        self.path.write_text(f"{pid}\n", encoding="ascii")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def spawn_detached(
    command: Sequence[str], log_file: Path, cwd: Path, user: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (`env`, else this process's environment), output appended to its log,
    so it outlives the caller and a signal to its group reaches it and its children alone."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    _SPAWNED.append(child)
    return child


def wait_until_healthy(
    name: str, proc: psutil.Process, healthy: Callable[[], bool], timeout_s: float, log_file: Path
) -> None:
    """Poll a real request until the service answers; fail naming the log when it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.Error, ChildProcessError):
                proc.wait(0)
            raise StackError(
                f"{name} exited while starting; read {display_path(log_file)}. Last lines:\n{log_tail(log_file)}"
            )
        if healthy():
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"{name} (pid {proc.pid}) did not answer within {timeout_s:.0f} s (stack.start_timeout_s); "
                f"read {display_path(log_file)}. Last lines:\n{log_tail(log_file)}"
            )
        time.sleep(0.3)


def stop_processes(stopping: Sequence[tuple[psutil.Process, signal.Signals, float]]) -> None:
    """Ask every process to stop at once, then kill each one that has not exited after its grace period. At once,
    because a KRaft quorum's nodes must leave together: a node left alone has no majority to approve its
    controlled shutdown, and would sit out its whole grace period."""
    asked: list[tuple[psutil.Process, str, float]] = []
    for proc, stop_signal, grace_s in stopping:
        with contextlib.suppress(psutil.NoSuchProcess):
            name = proc.name()
            proc.send_signal(stop_signal)
            asked.append((proc, name, time.monotonic() + grace_s))
    stuck = []
    for proc, name, deadline in asked:
        if not _exits_by(proc, deadline):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
            if not _exits_by(proc, time.monotonic() + 10):
                stuck.append(f"pid {proc.pid} ({name})")
    if stuck:
        raise StackError(
            f"{', '.join(stuck)} did not exit 10 s after SIGKILL: a process that ignores SIGKILL is stuck in the "
            "kernel (`ps -o pid,stat,wchan -p PID` shows where); its port stays taken until it exits"
        )


def _exits_by(proc: psutil.Process, deadline: float) -> bool:
    """Whether `proc` has exited by `deadline`: gone, or a zombie, reaped here if it is this process's child. A
    zombie of another live process (a test worker that started the stack another one stops) has exited too, and
    only its parent can reap it, so waiting for its pid to disappear would sit out the whole grace period."""
    while True:
        try:
            if not proc.is_running():  # gone, or its pid already reused by another process
                return True
            if proc.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    proc.wait(0)
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
