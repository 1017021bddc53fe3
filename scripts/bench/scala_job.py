"""Build and run the Scala gold job (spark-scala/) from Python, for the parity test and the benchmark."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pyspark

from config.local_spark import driver_java_options, local_jars
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "spark-scala" / "pom.xml"
JAR = ROOT / "spark-scala" / "target" / "scala-2.13" / "lakehouse-gold_2.13-0.1.0.jar"
MAIN_CLASS = "lakehouse.gold.PurchasesDailyJob"
SPARK_SUBMIT = Path(pyspark.__file__).parent / "bin" / "spark-submit"


def _stale(jar: Path) -> bool:
    if not jar.exists():
        return True
    sources = [POM, *(ROOT / "spark-scala" / "src" / "main").rglob("*.scala")]
    return max(p.stat().st_mtime for p in sources) > jar.stat().st_mtime


def build_jar() -> Path:
    """The job jar, packaged with Maven if missing or older than its sources (offline first, then online)."""
    if not _stale(JAR):
        return JAR
    command = ["mvn", "-q", "-B", "-f", str(POM), "package", "-DskipTests"]
    if subprocess.run([*command[:3], "-o", *command[3:]], capture_output=True).returncode != 0:
        online = subprocess.run(command, capture_output=True, text=True)
        if online.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{online.stdout[-3000:]}{online.stderr[-3000:]}")
    return JAR


def delta_jars(settings: Settings) -> list[str]:
    """Delta's jars from spark.jars_dir (`make jars`): the cluster provides them, so the job jar does not."""
    return [jar for jar in local_jars(settings) if Path(jar).name.startswith("delta-")]


def submit(settings: Settings, job_args: list[str], *, shuffle_partitions: int | None = None) -> tuple[str, float]:
    """Run the job with pyspark's spark-submit on the configured local master; its stdout and wall seconds."""
    partitions = shuffle_partitions or settings.spark.shuffle_partitions
    # The JVM checks a class archive against the JDK and its class path (pyspark's jars under every spark-submit);
    # --jars are not on that path, so the archive recorded for the PySpark drivers serves this driver too.
    java_options = driver_java_options(settings, settings.spark.jars_dir, local_jars(settings))
    command = [
        str(SPARK_SUBMIT),
        "--master", settings.spark.master,
        "--driver-memory", settings.spark.driver_memory,
        *(["--driver-java-options", java_options] if java_options else []),
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.sql.shuffle.partitions={partitions}",
        "--jars", ",".join(delta_jars(settings)),
        "--class", MAIN_CLASS,
        str(build_jar()),
        *job_args,
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"the Scala gold job exited {done.returncode} for {' '.join(job_args)}:\n{done.stderr[-4000:]}"
        )
    return done.stdout, seconds
