"""A gold Delta table pinned at one version, read with delta-rs (no JVM): its rows and its changed keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

CDF_PROPERTY = "delta.enableChangeDataFeed"
# object_store's NotFound, as delta-rs passes it through Arrow's C stream (pyarrow.lib.ArrowInvalid): a file the
# change feed names was deleted, by VACUUM or by hand. Every store (local, S3, ADLS, GCS) words it this way.
_FILE_GONE = re.compile(r"Object at location .+ not found")
_READ_ERRORS = (DeltaError, OSError, pa.ArrowException, ValueError)


class GoldSourceError(RuntimeError):
    """A gold table cannot be read; the message names the table's URI."""


def feed_is_gone(exc: BaseException) -> bool:
    """True when delta-rs failed because the log or files of the requested versions no longer exist.

    delta-rs raises a DeltaError when a version's log was cleaned up, FileNotFoundError when its own object
    store lookup finds nothing, and ArrowInvalid ("Object at location ... not found") when a file the feed
    names was vacuumed. Anything else (permission, network, a corrupt file) is a platform failure.
    """
    if isinstance(exc, DeltaError | FileNotFoundError):
        return True
    return isinstance(exc, pa.ArrowException) and bool(_FILE_GONE.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@dataclass(frozen=True)
class GoldSnapshot:
    """One gold table at one version: everything read from it comes from that version."""

    uri: str
    delta: DeltaTable

    @classmethod
    def latest(cls, uri: str) -> GoldSnapshot:
        """Pin the table's current version."""
        try:
            return cls(uri, DeltaTable(uri))
        except TableNotFoundError as exc:
            raise GoldSourceError(
                f"gold table {uri} does not exist: run the gold job first (or check storage.lake_uri)"
            ) from exc
        except _READ_ERRORS as exc:
            raise GoldSourceError(
                f"gold table {uri} cannot be opened: {exc} (check the storage credentials and that the "
                "table's _delta_log is readable)"
            ) from exc

    @property
    def version(self) -> int:
        return self.delta.version()

    @property
    def table_id(self) -> str:
        """The Delta table's id, which changes when the table is dropped and recreated."""
        return self.delta.metadata().id

    def schema(self) -> pa.Schema:
        return pa.schema(self.delta.schema().to_arrow())

    def read(self, columns: Sequence[str]) -> pa.Table:
        """Every row of the pinned version, only these columns."""
        try:
            return self.delta.to_pyarrow_table(columns=list(columns))
        except _READ_ERRORS as exc:
            raise GoldSourceError(f"gold table {self.uri} at version {self.version} cannot be read: {exc}") from exc

    def changes(self, after_version: int, columns: Sequence[str], keys: Sequence[str]) -> tuple[Changes | None, str]:
        """What versions after_version+1..version did, from the change data feed alone (the table is not read):
        each changed key's row as of the pinned version, and the keys it no longer has. None and why not when
        the feed is off or gone for those versions (a full load is then correct); GoldSourceError when it
        exists but cannot be read."""
        if self.delta.metadata().configuration.get(CDF_PROPERTY) != "true":
            return None, f"{CDF_PROPERTY} is not true on {self.uri}"
        first = after_version + 1
        versions = f"versions {first}..{self.version}"
        try:
            start = DeltaTable(self.uri, version=first)
            if start.metadata().configuration.get(CDF_PROPERTY) != "true":
                return None, f"{CDF_PROPERTY} was off at version {first}"
            feed = self.delta.load_cdf(
                starting_version=first, ending_version=self.version, columns=[*columns, *FEED_COLUMNS]
            )
            changes = pa.table(feed)
        except _READ_ERRORS as exc:
            if feed_is_gone(exc):
                return None, (
                    f"the change data feed of {versions} is no longer available (vacuumed or its log "
                    f"cleaned up: {_first_line(exc)})"
                )
            raise GoldSourceError(
                f"the change data feed of gold table {self.uri}, {versions}, exists but cannot be read: {exc} "
                "(check the storage credentials and the files under _change_data; a full load with --full "
                "does not read the feed)"
            ) from exc
        if any(changes.column(k).null_count for k in keys):
            return None, f"the change data feed of {versions} has rows with a null key {list(keys)}"
        schema = self.schema()
        return final_states(changes, keys, pa.schema([schema.field(c) for c in columns])), ""


FEED_COLUMNS = ("_change_type", "_commit_version")
POST_IMAGES = ("insert", "update_postimage")


@dataclass(frozen=True)
class Changes:
    """Rows to upsert (every column) and keys to delete, as of the pinned version."""

    rows: pa.Table
    removed: pa.Table


def final_states(feed: pa.Table, keys: Sequence[str], schema: pa.Schema) -> Changes:
    """Per key, its state after the last version of `feed` that touched it: the row written then (an insert or an
    update's post-image; a delete and an insert in one version, as an overwrite writes, leave the insert), or
    its removal when that version only deleted it. A table with one row per key has at most one such row per
    key; the loader refuses a repeated key before it stages anything."""
    keys = list(keys)
    # The table's own types first: delta-rs gives strings as string_view, which Arrow cannot filter or join.
    feed_schema = pa.schema([*schema, pa.field("_change_type", pa.string()), pa.field("_commit_version", pa.int64())])
    feed = feed.select(feed_schema.names).cast(feed_schema)
    touched = feed.filter(pc.field("_change_type") != "update_preimage")
    last = touched.group_by(keys).aggregate([("_commit_version", "max")])
    final = touched.join(last, keys=keys).filter(pc.field("_commit_version") == pc.field("_commit_version_max"))
    written = final.filter(pc.field("_change_type").isin(POST_IMAGES))
    removed = last.select(keys).join(written.select(keys), keys=keys, join_type="left anti")
    key_schema = pa.schema([schema.field(k) for k in keys])  # joins drop the fields' NOT NULL
    return Changes(written.select(schema.names).cast(schema), removed.select(keys).cast(key_schema))
