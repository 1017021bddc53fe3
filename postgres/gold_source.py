"""A gold Delta table pinned at one version, read with delta-rs (no JVM): its rows and its changed keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

CDF_PROPERTY = "delta.enableChangeDataFeed"


class GoldSourceError(RuntimeError):
    """A gold table cannot be read; the message names the table's URI."""


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
        return self.delta.to_pyarrow_table(columns=list(columns))

    def changed_keys(self, after_version: int, keys: Sequence[str]) -> tuple[pa.Table | None, str]:
        """Distinct keys of rows changed in versions after_version+1..version, or None and why not."""
        if self.delta.metadata().configuration.get(CDF_PROPERTY) != "true":
            return None, f"{CDF_PROPERTY} is not true on {self.uri}"
        try:
            start = DeltaTable(self.uri, version=after_version + 1)
            if start.metadata().configuration.get(CDF_PROPERTY) != "true":
                return None, f"{CDF_PROPERTY} was off at version {after_version + 1}"
            feed = self.delta.load_cdf(
                starting_version=after_version + 1, ending_version=self.version, columns=list(keys)
            )
            changes = pa.table(feed)
        except DeltaError as exc:
            return None, f"the change data feed from version {after_version + 1} is not readable ({exc})"
        key_schema = pa.schema([self.schema().field(k) for k in keys])
        distinct = changes.select(list(keys)).group_by(list(keys)).aggregate([])
        return distinct.select(list(keys)).cast(key_schema), ""
