"""What a serving table looks like in the catalog, and whether a gold table's Arrow schema still fits it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from psycopg2.extensions import cursor

SERVING_SCHEMA = "serving"


class SchemaMismatchError(RuntimeError):
    """A gold table's columns or types no longer match its serving table."""


@dataclass(frozen=True)
class ServingTable:
    name: str
    columns: dict[str, str]
    key: tuple[str, ...]

    @property
    def non_key(self) -> list[str]:
        return [c for c in self.columns if c not in self.key]


def read_serving_table(cur: cursor, name: str) -> ServingTable | None:
    """Columns (name -> format_type) and primary key of serving.<name>, or None if it does not exist."""
    cur.execute("select to_regclass(format('%%I.%%I', %s::text, %s::text))::oid", (SERVING_SCHEMA, name))
    oid = cur.fetchone()[0]
    if oid is None:
        return None
    cur.execute(
        """
        select attname, format_type(atttypid, atttypmod) from pg_attribute
        where attrelid = %s and attnum > 0 and not attisdropped order by attnum
        """,
        (oid,),
    )
    columns = dict(cur.fetchall())
    cur.execute(
        """
        select a.attname from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = %s and i.indisprimary
        order by array_position(i.indkey::int2[], a.attnum)
        """,
        (oid,),
    )
    return ServingTable(name, columns, tuple(row[0] for row in cur.fetchall()))


def _fits(arrow: pa.DataType, pg: str) -> bool:
    """True when every value of the Arrow type is stored exactly by the PostgreSQL type."""
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return pg == "text" or pg.startswith("character varying")
    if pa.types.is_integer(arrow):
        widths = {"smallint": 16, "integer": 32, "bigint": 64}
        return pg in widths and widths[pg] >= arrow.bit_width
    if pa.types.is_boolean(arrow):
        return pg == "boolean"
    if pa.types.is_date32(arrow):
        return pg == "date"
    if pa.types.is_timestamp(arrow):
        return pg == ("timestamp with time zone" if arrow.tz else "timestamp without time zone")
    if pa.types.is_decimal(arrow):
        if pg == "numeric":
            return True
        if not pg.startswith("numeric("):
            return False
        precision, scale = (int(x) for x in pg[len("numeric(") : -1].split(","))
        return scale == arrow.scale and precision - scale >= arrow.precision - arrow.scale
    if pa.types.is_float64(arrow):
        return pg == "double precision"
    if pa.types.is_float32(arrow):
        return pg in ("real", "double precision")
    return False


def check_schema(gold: pa.Schema, serving: ServingTable, uri: str) -> None:
    """Raise SchemaMismatchError naming the first column missing on either side or whose types differ."""
    target = f"{SERVING_SCHEMA}.{serving.name}"
    fix = "add a migration under postgres/migrations that changes the serving table, or fix the gold job"
    for field in gold:
        if field.name not in serving.columns:
            raise SchemaMismatchError(
                f"gold column {serving.name}.{field.name} ({field.type}, in {uri}) has no column in {target}: {fix}"
            )
        pg_type = serving.columns[field.name]
        if not _fits(field.type, pg_type):
            raise SchemaMismatchError(
                f"column {field.name}: gold {serving.name} has {field.type} but {target}.{field.name} is "
                f"{pg_type}: {fix}"
            )
    missing = [c for c in serving.columns if c not in gold.names]
    if missing:
        raise SchemaMismatchError(
            f"{target}.{missing[0]} ({serving.columns[missing[0]]}) has no column in gold table {uri}: {fix}"
        )
    if not serving.key:
        raise SchemaMismatchError(f"{target} has no primary key: the loader upserts by key; {fix}")
