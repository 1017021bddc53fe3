"""How many examples a property-based test tries: its budget in make test, times LAKEHOUSE_PROPERTY_SCALE."""

from __future__ import annotations

import os

SCALE = int(os.environ.get("LAKEHOUSE_PROPERTY_SCALE", "1"))


def examples(budget: int) -> int:
    """`budget` examples in make test; `make test-properties` multiplies them for a longer hunt."""
    return budget * SCALE
