"""COPY an Arrow table into PostgreSQL as CSV, encoding the next batch while the server parses this one."""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Sequence

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extensions import cursor

BATCH_ROWS = 65_536
COPY_BUFFER = 1 << 20
_QUEUE_DEPTH = 4
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")
_CONTEXT_COLUMN = re.compile(r"line \d+, column ([^:]+):")


class RowRejected(Exception):
    """PostgreSQL cannot store one row of an Arrow table; `row` indexes that table, `column` names the field."""

    def __init__(self, row: int | None, column: str | None, reason: str):
        super().__init__(reason)
        self.row = row
        self.column = column
        self.reason = reason


def utc_naive(table: pa.Table) -> pa.Table:
    """Drop the UTC zone from timestamp columns (a free cast): zoned formatting is ~15x slower in Arrow."""
    schema = pa.schema(
        field.with_type(pa.timestamp(field.type.unit)) if pa.types.is_timestamp(field.type) else field
        for field in table.schema
    )
    return table.cast(schema)


def csv_batches(table: pa.Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """CSV per batch: strings are always quoted, so PostgreSQL reads "" as an empty string, not NULL."""
    for batch in utc_naive(table).to_batches(max_chunksize=batch_rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, _WRITE_OPTIONS)
        yield sink.getvalue().to_pybytes()


class _Prefetched:
    """A file-like reader over CSV chunks encoded by a background thread (pyarrow releases the GIL)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(_QUEUE_DEPTH)
        self._buffer = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._fill, args=(chunks,), daemon=True)
        self._thread.start()

    def _fill(self, chunks: Iterator[bytes]) -> None:
        try:
            for chunk in chunks:
                self._queue.put(chunk)
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._queue.put(exc)
            return
        self._queue.put(None)

    def read(self, size: int = -1) -> bytes:
        while not self._buffer and not self._done:
            item = self._queue.get()
            if item is None:
                self._done = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._buffer = memoryview(item)
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out.tobytes()

    def close(self) -> None:
        """Unblock and finish the encoder thread even when COPY stopped reading early."""
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        self._thread.join()


def _first_nul(table: pa.Table, columns: Sequence[str]) -> tuple[int, str] | None:
    """(row, column) of the first text value holding U+0000, which PostgreSQL text cannot store."""
    for name in columns:
        values = table.column(name)
        if pa.types.is_string_view(values.type):
            values = values.cast(pa.large_string())
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        row = pc.index(pc.match_substring(values, "\x00"), True).as_py()
        if row >= 0:
            return row, name
    return None


def _send(cur: cursor, statement: sql.Composable, table: pa.Table) -> None:
    reader = _Prefetched(csv_batches(table))
    try:
        cur.copy_expert(statement, reader, size=COPY_BUFFER)
    finally:
        reader.close()


def _probe(cur: cursor, statement: sql.Composable, table: pa.Table) -> psycopg2.Error | None:
    """COPY `table` and undo it; the data error it raised, if any."""
    cur.execute("savepoint copy_arrow_probe")
    try:
        _send(cur, statement, table)
    except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
        cur.execute("rollback to savepoint copy_arrow_probe")
        return exc
    cur.execute("rollback to savepoint copy_arrow_probe")
    return None


def _isolate(cur: cursor, statement: sql.Composable, table: pa.Table, error: psycopg2.Error) -> RowRejected:
    """Bisect a COPY that failed on data down to one row (PostgreSQL's line numbers count embedded newlines)."""
    low, high = 0, table.num_rows
    while high - low > 1:
        middle = (low + high) // 2
        if _probe(cur, statement, table.slice(low, middle - low)) is not None:
            high = middle
        else:
            low = middle
    single = _probe(cur, statement, table.slice(low, 1)) if high - low == 1 else None
    if single is None:
        return RowRejected(None, None, _pg_reason(error))
    diag = single.diag
    match = _CONTEXT_COLUMN.search(diag.context or "")
    column = diag.column_name or (match.group(1) if match else None)
    if isinstance(single, psycopg2.errors.NotNullViolation):
        return RowRejected(low, column, "null, but the serving column is NOT NULL")
    return RowRejected(low, column, _pg_reason(single))


def _pg_reason(error: psycopg2.Error) -> str:
    return (error.diag.message_primary or str(error)).strip()


def copy_arrow(cur: cursor, target: sql.Composable, table: pa.Table, columns: Sequence[str]) -> int:
    """COPY `table`'s `columns` into `target` (a composed identifier); return the rows sent.

    Timestamps are sent as UTC wall-clock time, so the transaction's TimeZone is set to UTC for the COPY.
    A row PostgreSQL refuses raises RowRejected (the COPY undone, the transaction still usable).
    """
    nul = _first_nul(table, columns)
    if nul is not None:
        raise RowRejected(nul[0], nul[1], "PostgreSQL text cannot hold the NUL character (U+0000)")
    cur.execute("set local timezone to 'UTC'")
    statement = sql.SQL("copy {} ({}) from stdin with (format csv, encoding 'UTF8')").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    selected = table.select(list(columns))
    cur.execute("savepoint copy_arrow")
    try:
        _send(cur, statement, selected)
    except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
        cur.execute("rollback to savepoint copy_arrow")
        raise _isolate(cur, statement, selected, exc) from exc
    cur.execute("release savepoint copy_arrow")
    return table.num_rows
