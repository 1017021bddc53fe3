"""A Spark job given a broken config says what is wrong in one message, as the other commands do: no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("job", ["bronze", "silver", "gold", "maintenance", "redrive", "replay"])
def test_a_config_error_is_one_message_naming_the_file_and_exit_code_2(job: str, tmp_path: Path) -> None:
    config = tmp_path / "broken.yml"
    config.write_text("environment: broken\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(REPO / "spark" / "jobs" / f"{job}.py"), "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and str(config) in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
