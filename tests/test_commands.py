"""One convention for command-line entry points: a module with main(argv=None) whose docstring starts with its own
`Usage: python -m <module>` line, and every module the Makefile runs is such a command."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_sources() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split() if not name.startswith("tests/")]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _commands() -> dict[str, ast.Module]:
    found = {}
    for path in _tracked_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found[_module(path)] = tree
    return found


def test_every_command_starts_with_its_own_usage_line():
    commands = _commands()
    assert "kafka.produce" in commands and "postgres.load" in commands and "spark.jobs.silver" in commands
    wrong = {
        module: (ast.get_docstring(tree) or "").splitlines()[:1]
        for module, tree in commands.items()
        if not (ast.get_docstring(tree) or "").startswith(f"Usage: python -m {module}")
    }
    assert wrong == {}


def test_every_module_the_makefile_runs_is_a_command():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    run = set(re.findall(r"-m ((?:kafka|postgres|spark|scripts)\.[\w.]+)", makefile))
    assert "scripts.stack.services" in run
    assert run - set(_commands()) == set()


# What a command needs beside --config to get as far as loading it.
EXTRA_ARGS = {"kafka.produce": ["--events", "1"], "scripts.stack.services": ["status"]}


def _configured_commands() -> list[str]:
    """Every command that takes --config: its own parser's, or the streaming jobs' shared one."""
    return sorted(
        module
        for module, tree in _commands().items()
        if any(isinstance(n, ast.Constant) and n.value == "--config" for n in ast.walk(tree))
        or "stream_arguments(" in ast.unparse(tree)
    )


def test_the_commands_taking_a_config_are_found() -> None:
    found = _configured_commands()
    assert {"kafka.produce", "spark.jobs.bronze", "scripts.demo", "scripts.bench.spark_layers"} <= set(found)


@pytest.mark.parametrize("module", _configured_commands())
def test_a_missing_config_file_is_an_error_naming_it_with_exit_2(module: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    env = {k: v for k, v in os.environ.items() if k != "LAKEHOUSE_CONFIG"} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", str(missing), *EXTRA_ARGS.get(module, [])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and str(missing) in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
