"""Usage: python -m scripts.build_archive [--output PATH]

Zips the shared code Spark executors import (spark/, kafka/ with its schemas, config/) for spark-submit --py-files.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("spark", "kafka", "config")
SUFFIXES = {".py", ".json", ".yml"}
DEFAULT_OUTPUT = REPO / ".local" / "dist" / "lakehouse.zip"


def build_archive(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the archive with stable entry order and timestamps, so the same sources give the same bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in PACKAGES:
            for path in sorted((REPO / package).rglob("*")):
                relative = path.relative_to(REPO)
                if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in relative.parts:
                    info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
    tmp.replace(output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    print(build_archive(parser.parse_args(argv).output))


if __name__ == "__main__":
    main()
