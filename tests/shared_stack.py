"""One local stack for every pytest-xdist worker of a run: started by the first worker that needs it, stopped by
the last one to finish, and only if a worker of this run started it (a stack that was already up stays up).

Each worker is its own process with its own session fixtures, so a plain session fixture would let the first
worker to finish stop the broker under the others. The users are counted in a file next to the workers' base
temp directories, under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import psutil

from config.settings import Settings
from scripts.stack.services import Stack, StackInfo


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read(state: Path) -> dict[str, list[str]]:
    """The users (worker:pid) and what they started; a user whose process is gone (a crashed worker, which xdist
    replaces under a new name) no longer counts, so the last live worker still stops the stack."""
    record = json.loads(state.read_text(encoding="utf-8")) if state.exists() else {"users": [], "started": []}
    record["users"] = [user for user in record["users"] if psutil.pid_exists(int(user.rsplit(":", 1)[1]))]
    return record


@contextlib.contextmanager
def shared_stack(settings: Settings, run_dir: Path, worker: str) -> Iterator[StackInfo]:
    """The stack for `worker`, counted as a user of it in `run_dir` until the block ends."""
    lock, state = run_dir / "stack.lock", run_dir / "stack-users.json"
    user = f"{worker}:{os.getpid()}"
    stack = Stack(settings)
    with _locked(lock):
        record = _read(state)
        info = stack.up()
        record["started"] = sorted({*record["started"], *info.started})
        record["users"].append(user)
        state.write_text(json.dumps(record), encoding="utf-8")
    try:
        yield info
    finally:
        with _locked(lock):
            record = _read(state)
            record["users"].remove(user)
            if not record["users"] and record["started"]:
                stack.down(record["started"])
                record["started"] = []
            state.write_text(json.dumps(record), encoding="utf-8")
