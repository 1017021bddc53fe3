"""Idempotent Delta appends keyed on a stream's micro-batch, with an app id that lives and dies with its checkpoint."""

from __future__ import annotations

import uuid

from pyspark.sql import DataFrame, SparkSession

APP_ID_FILE = "lakehouse_app_id"
SPARK_CHECKPOINT_MARKER = "metadata"


def stream_app_id(spark: SparkSession, checkpoint: str) -> str:
    """The txnAppId for a stream: read from its checkpoint, or a new UUID written there if the checkpoint is new;
    a started checkpoint without one is refused, never given a new id."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(checkpoint)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    id_path = jvm.org.apache.hadoop.fs.Path(root, APP_ID_FILE)
    started = fs.exists(jvm.org.apache.hadoop.fs.Path(root, SPARK_CHECKPOINT_MARKER))
    if started and not fs.exists(id_path):
        raise ValueError(
            f"{id_path} is missing from a checkpoint that has started: a new app id would make Delta write the "
            "in-flight batch's rows a second time. Restore the file from a backup, or rebuild silver with a fresh "
            "checkpoint (docs/runbook.md, Rebuild silver from bronze)"
        )
    if started:
        stream = fs.open(id_path)
        try:
            app_id = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8").strip()
        finally:
            stream.close()
        try:
            uuid.UUID(app_id)
        except ValueError:
            raise ValueError(
                f"{id_path} holds {app_id[:60]!r}, not the stream's app id (a UUID): the checkpoint is damaged. "
                "Restore the file from a backup, or rebuild silver with a fresh checkpoint "
                "(docs/runbook.md, Rebuild silver from bronze)"
            ) from None
        return app_id
    app_id = str(uuid.uuid4())
    out = fs.create(id_path, True)
    try:
        out.write(bytearray(app_id.encode("ascii")))
    finally:
        out.close()
    return app_id


def idempotent_append(df: DataFrame, path: str, app_id: str, batch_id: int, user_metadata: str | None = None) -> None:
    """Append unless this (app id, batch id) already committed to the table; Delta then skips it. `user_metadata`
    goes into the commit's history (spark.first_writer reads it back)."""
    writer = df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", batch_id)
    if user_metadata is not None:
        writer = writer.option("userMetadata", user_metadata)
    writer.save(path)
