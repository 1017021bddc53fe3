"""A gold Delta table pinned at one version, read with delta-rs (no JVM): its rows and its changed keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
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

    def changed_keys(self, after_version: int, keys: Sequence[str]) -> tuple[pa.Table | None, str]:
        """Distinct keys of rows changed in versions after_version+1..version, or None and why not.

        None when the feed is off or no longer exists for those versions (a full load is then correct);
        GoldSourceError when it exists but cannot be read.
        """
        if self.delta.metadata().configuration.get(CDF_PROPERTY) != "true":
            return None, f"{CDF_PROPERTY} is not true on {self.uri}"
        first = after_version + 1
        versions = f"versions {first}..{self.version}"
        try:
            start = DeltaTable(self.uri, version=first)
            if start.metadata().configuration.get(CDF_PROPERTY) != "true":
                return None, f"{CDF_PROPERTY} was off at version {first}"
            feed = self.delta.load_cdf(starting_version=first, ending_version=self.version, columns=list(keys))
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
        key_schema = pa.schema([self.schema().field(k) for k in keys])
        distinct = changes.select(list(keys)).group_by(list(keys)).aggregate([])
        return distinct.select(list(keys)).cast(key_schema), ""
