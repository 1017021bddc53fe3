"""Usage: python -m scripts.build_archive [--output PATH]

Zips the shared code Spark executors import (spark/, kafka/ with its schemas, config/) for spark-submit --py-files.
An output ending in .whl gets wheel metadata too (Databricks installs shared code only as a library wheel),
declaring the cluster requirements from spark/requirements.txt.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("spark", "kafka", "config")
SUFFIXES = {".py", ".json", ".yml"}
DEFAULT_OUTPUT = REPO / ".local" / "dist" / "lakehouse.zip"


def _entries() -> list[tuple[str, bytes]]:
    entries = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            relative = path.relative_to(REPO)
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in relative.parts:
                entries.append((relative.as_posix(), path.read_bytes()))
    return entries


def _wheel_metadata(entries: list[tuple[str, bytes]], output: Path) -> list[tuple[str, bytes]]:
    """METADATA, WHEEL and RECORD for a pure-Python wheel named like lakehouse-0.1.0-py3-none-any.whl."""
    name, version = output.name.split("-")[:2]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if version != project["version"]:
        raise SystemExit(f"error: {output.name} must carry the project version {project['version']}")
    requirements = [
        line
        for line in (REPO / "spark" / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    info = f"{name}-{version}.dist-info"
    metadata = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {project['description']}"]
        + [f"Requires-Dist: {r}" for r in requirements]
    )
    wheel = "Wheel-Version: 1.0\nGenerator: scripts/build_archive.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = [*entries, (f"{info}/METADATA", (metadata + "\n").encode()), (f"{info}/WHEEL", wheel.encode())]
    record = []
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    return [*files[len(entries) :], (f"{info}/RECORD", ("\n".join(record) + "\n").encode())]


def build_archive(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the archive with stable entry order and timestamps, so the same sources give the same bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    entries = _entries()
    if output.suffix == ".whl":
        entries += _wheel_metadata(entries, output)
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
