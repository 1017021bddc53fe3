"""The silver append's tag: written by the silver writers, read back by the first-writer look-up and the report."""

from __future__ import annotations

import json

import pytest

from spark.write_tags import read_tag, write_tag


def test_a_written_tag_reads_back_as_text_or_as_parsed_json() -> None:
    text = write_tag("app", 3, read_version=7, quarantine_version=2)
    expected = {"writer": "lakehouse-silver-append", "app_id": "app", "batch_id": 3, "read_version": 7}
    assert read_tag(text) == {**expected, "quarantine_version": 2}
    assert read_tag(json.loads(text)) == {**expected, "quarantine_version": 2}, "a log reader that parses it"


@pytest.mark.parametrize(
    "user_metadata",
    [None, "", "not json", "[1, 2]", 5, ["a"], {"writer": "someone-else", "app_id": "a", "batch_id": 1},
     {"writer": "lakehouse-silver-append", "app_id": "a", "batch_id": True, "read_version": 1}],
)  # fmt: skip
def test_anything_else_is_not_a_tag_and_never_an_error(user_metadata) -> None:
    assert read_tag(user_metadata) is None
