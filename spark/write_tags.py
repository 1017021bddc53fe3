"""The tag each silver append carries in its commit's userMetadata: the writer, its micro-batch and the silver
version it deduplicated against. The silver writers set it (spark.silver_batch, spark.redrive) and
spark.first_writer reads it back; readers without Spark (the run report, bench-freshness) find a batch's commit,
and so the moment its rows became visible, by it."""

from __future__ import annotations

import json
from typing import Any

WRITER = "lakehouse-silver-append"


def write_tag(app_id: str, batch_id: int, read_version: int, **extra: Any) -> str:
    """The userMetadata of a silver append."""
    return json.dumps(
        {"writer": WRITER, "app_id": app_id, "batch_id": batch_id, "read_version": read_version, **extra},
        sort_keys=True,
    )


def read_tag(user_metadata: Any) -> dict[str, Any] | None:
    """The tag of a silver append, or None for any other commit (maintenance, a delete, another writer's, whose
    userMetadata a log reader may hand back as text, as parsed JSON or not at all) and for a tag without a string
    app_id and integer batch_id and read_version, which no silver writer makes."""
    if isinstance(user_metadata, dict):
        tag = user_metadata
    elif isinstance(user_metadata, str) and user_metadata:
        try:
            tag = json.loads(user_metadata)
        except ValueError:
            return None
    else:
        return None
    if not isinstance(tag, dict) or tag.get("writer") != WRITER or not isinstance(tag.get("app_id"), str):
        return None
    numbers = (tag.get("batch_id"), tag.get("read_version"))
    return tag if all(isinstance(n, int) and not isinstance(n, bool) for n in numbers) else None
