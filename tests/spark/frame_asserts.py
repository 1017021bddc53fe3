"""DataFrame equality for tests while pandas 3 breaks pyspark.testing.assertDataFrameEqual's pandas import."""

from __future__ import annotations

from collections import Counter

from pyspark.sql import DataFrame


def assert_frames_equal(actual: DataFrame, expected: DataFrame) -> None:
    """Same column names and types (nullability aside) and the same rows in any order."""

    def shape(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]

    assert shape(actual) == shape(expected)
    missing = Counter(map(_hashable, expected.collect()))
    missing.subtract(Counter(map(_hashable, actual.collect())))
    assert not +missing and not -missing, f"rows differ: expected-only {+missing}, actual-only {-missing}"


def _hashable(value):
    if isinstance(value, (bytearray, bytes)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
