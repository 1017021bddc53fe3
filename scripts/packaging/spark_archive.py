"""Usage: python -m scripts.packaging.spark_archive [--output PATH]

Zips the shared code Spark executors import (spark/, kafka/ with its schemas, config/) for spark-submit --py-files.
An output ending in .whl is the same files built into a wheel by setuptools (Databricks installs shared code only as
a library wheel), declaring the cluster requirements from spark/requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("spark", "kafka", "config")
SUFFIXES = {".py", ".json", ".yml"}
DEFAULT_OUTPUT = REPO / ".local" / "dist" / "lakehouse.zip"
# 1980-01-01, the earliest zip timestamp: the same sources give the same wheel bytes.
SOURCE_DATE_EPOCH = "315532800"
WHEEL_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = {name}
version = {version}
description = {description}
dependencies = {dependencies}

[tool.setuptools.packages.find]
include = ["spark*", "kafka*", "config*"]

[tool.setuptools.package-data]
"*" = ["*.json", "*.yml"]
"""
# PEP 517's build_wheel hook in a fresh interpreter, as pypa/build runs it; the staged tree is the working directory.
BUILD_WHEEL_HOOK = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"


def _entries() -> list[tuple[str, bytes]]:
    entries = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            relative = path.relative_to(REPO)
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in relative.parts:
                entries.append((relative.as_posix(), path.read_bytes()))
    return entries


def _wheel_pyproject(output: Path) -> str:
    """A pyproject.toml for the wheel alone: the repository's describes the uv environment of every folder
    (package = false, no dependencies), not this one distribution of the Spark jobs' shared code."""
    name, version = output.name.split("-")[:2]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if version != project["version"]:
        raise SystemExit(f"error: {output.name} must carry the project version {project['version']}")
    requirements = [
        line
        for line in (REPO / "spark" / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return WHEEL_PYPROJECT.format(
        name=json.dumps(name),
        version=json.dumps(version),
        description=json.dumps(project["description"]),
        dependencies=json.dumps(requirements),
    )


def _build_wheel(entries: list[tuple[str, bytes]], output: Path) -> Path:
    """Stage exactly the zip's files and run setuptools' build hook on them offline (no build isolation)."""
    with tempfile.TemporaryDirectory(prefix="lakehouse-wheel-") as tmp:
        source = Path(tmp) / "source"
        for name, data in entries:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(data)
        (source / "pyproject.toml").write_text(_wheel_pyproject(output), encoding="utf-8")
        built = subprocess.run(
            [sys.executable, "-c", BUILD_WHEEL_HOOK, tmp],
            cwd=source,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            raise SystemExit(f"error: setuptools could not build {output.name}:\n{built.stderr.strip()[-3000:]}")
        wheel = Path(tmp) / built.stdout.split()[-1]
        if wheel.name != output.name:
            raise SystemExit(f"error: {output}: setuptools names this wheel {wheel.name}; ask for that file name")
        shutil.move(wheel, output)
    return output


def build_archive(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the archive with stable entry order and timestamps, so the same sources give the same bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    entries = _entries()
    if output.suffix == ".whl":
        return _build_wheel(entries, output)
    tmp = output.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    tmp.replace(output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    print(build_archive(parser.parse_args(argv).output))


if __name__ == "__main__":
    main()
