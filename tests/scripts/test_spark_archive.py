"""The shared-code archive: a --py-files zip, and the same code as an installable wheel for Databricks."""

import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from kafka.contract import CONTRACT_PATH
from scripts.packaging.spark_archive import REPO, build_archive

UV = shutil.which("uv") or str(REPO / ".local" / "tools" / "bin" / "uv")


def test_zip_holds_the_packages_and_the_contract_and_is_reproducible(tmp_path):
    first = build_archive(tmp_path / "a" / "lakehouse.zip")
    second = build_archive(tmp_path / "b" / "lakehouse.zip")
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "kafka/schemas/event.schema.json" in names and "spark/jobs/silver.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_wheel_holds_exactly_the_zips_files_and_is_reproducible(tmp_path):
    wheel = build_archive(tmp_path / "a" / "lakehouse-0.1.0-py3-none-any.whl")
    assert wheel.read_bytes() == build_archive(tmp_path / "b" / wheel.name).read_bytes()
    packaged = {n for n in zipfile.ZipFile(wheel).namelist() if not n.startswith("lakehouse-0.1.0.dist-info/")}
    assert packaged == set(zipfile.ZipFile(build_archive(tmp_path / "lakehouse.zip")).namelist())
    assert "kafka/schemas/event.schema.json" in packaged and "config/local.yml" in packaged


def test_wheel_named_for_another_version_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="must carry the project version 0.1.0"):
        build_archive(tmp_path / "lakehouse-9.9.9-py3-none-any.whl")


def test_wheel_installs_and_its_code_loads_the_contract_from_site_packages(tmp_path):
    wheel = build_archive(tmp_path / "lakehouse-0.1.0-py3-none-any.whl")
    target = tmp_path / "site"
    subprocess.run(
        [UV, "pip", "install", "--no-deps", "--quiet", "--python", sys.executable, "--target", str(target), str(wheel)],
        check=True,
    )
    probe = "from kafka.contract import contract_version; print(contract_version())"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == json.loads(CONTRACT_PATH.read_text())["x-contract-version"]
    metadata = (target / "lakehouse-0.1.0.dist-info" / "METADATA").read_text()
    assert "Requires-Dist: orjson==" in metadata and "pyspark" not in metadata


def test_relative_paths_in_a_config_resolve_against_the_working_directory_when_run_from_the_zip(tmp_path):
    """A DAG task runs its job from the archive with the checkout as its working directory: a relative lake_uri
    must land there, not inside lakehouse.zip (which is not a folder)."""
    archive = build_archive(tmp_path / "dist" / "lakehouse.zip")
    probe = (
        "from config.settings import load_settings; "
        f"print(load_settings({str(REPO / 'config' / 'local.yml')!r}).storage.table_uri('bronze', 'events'))"
    )
    env = {"PYTHONPATH": str(archive), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path.resolve() / ".local" / "lake" / "bronze" / "events")
