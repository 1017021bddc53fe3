"""Usage: python -m scripts.packaging.requirements [--check]

Writes each deployable folder's requirements.txt: its dependency group's direct requirements, pinned to uv.lock.

Managed runtimes (Airflow images, Spark clusters) bring their own transitive pins, so only the direct
requirements are listed, each at the version the lockfile resolved.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {
    "kafka/requirements.txt": "kafka",
    "spark/requirements.txt": "spark-jobs",
    "postgres/requirements.txt": "postgres",
    "dags/requirements.txt": "dags",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_requirements(pyproject: dict, group: str) -> list[str]:
    """The names of a group's requirements, following include-group entries."""
    names: list[str] = []
    for entry in pyproject["dependency-groups"][group]:
        if isinstance(entry, dict):
            names.extend(direct_requirements(pyproject, entry["include-group"]))
        else:
            names.append(_normalise(re.split(r"[<>=!~;\[ ]", entry, maxsplit=1)[0]))
    return list(dict.fromkeys(names))


def render(group: str, pyproject: dict, locked: dict[str, str]) -> str:
    lines = [f"# Generated from the '{group}' dependency group and uv.lock by `make requirements`; do not edit."]
    for name in sorted(direct_requirements(pyproject, group)):
        if name not in locked:
            raise SystemExit(f"error: {name} (group '{group}') is not in uv.lock: run `uv lock`")
        lines.append(f"{name}=={locked[name]}")
    return "\n".join(lines) + "\n"


def expected_files() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {_normalise(p["name"]): p["version"] for p in lock["package"] if "version" in p}
    return {path: render(group, pyproject, locked) for path, group in TARGETS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.packaging.requirements", description=__doc__.splitlines()[2]
    )
    parser.add_argument("--check", action="store_true", help="fail if a committed file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        target = ROOT / path
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"error: out of date: {', '.join(stale)}; run `make requirements`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
