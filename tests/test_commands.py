"""One convention for command-line entry points: a module with main(argv=None) whose docstring starts with its own
`Usage: python -m <module>` line, and every module the Makefile runs is such a command."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
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


CONFIGURED_COMMANDS = [
    ("scripts.airflow_local.run_dag", []),
    ("scripts.packaging.dag_bundle", []),
    ("scripts.packaging.class_archive", []),
    ("scripts.stack.services", ["status"]),
    ("scripts.demo", []),
    ("scripts.report.build", []),
    ("postgres.migrate", []),
    ("postgres.load", []),
]


@pytest.mark.parametrize(("module", "args"), CONFIGURED_COMMANDS, ids=[m for m, _ in CONFIGURED_COMMANDS])
def test_a_missing_config_file_is_an_error_naming_it_with_exit_2(
    module: str, args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yml"
    assert importlib.import_module(module).main(["--config", str(missing), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
