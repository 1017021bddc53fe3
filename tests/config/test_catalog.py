"""The table catalog is whole: gold builds every mart in it, each mart is served under its own name, and every
table a job writes is in it once."""

from __future__ import annotations

import pytest

from config.catalog import FCT_FUNNEL_DAILY, MART_TABLES, MARTS, TABLES, mart


def test_each_table_is_catalogued_once_and_each_mart_is_served_as_serving_dot_its_name() -> None:
    assert len({table.qualified for table in TABLES}) == len(TABLES)
    assert all(table.layer == "gold" for table in MART_TABLES)
    assert [table.serving for table in MART_TABLES] == [f"serving.{name}" for name in MARTS]
    assert all(table.key for table in MART_TABLES), "a served mart needs a key to upsert on"


def test_gold_builds_exactly_the_catalogs_marts() -> None:
    from spark.gold_refresh import FROM_EVENTS

    assert set(FROM_EVENTS) | {FCT_FUNNEL_DAILY.name} == set(MARTS)


def test_an_unknown_mart_names_the_marts_there_are() -> None:
    with pytest.raises(KeyError, match="choose from dim_users, dim_products"):
        mart("fct_nothing")
