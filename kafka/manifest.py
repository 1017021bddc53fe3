"""The run manifest: what a producer run sent, and what silver, quarantine and dedup must therefore hold."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from config.reconciliation import ids_sha256
from kafka.delivery import DeliveryResult, Record

MAX_EVENT_ERRORS_IN_MANIFEST = 100


def _sorted_sha256(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


class KindTally:
    """Counts events and keeps their ids per generated kind, passing records through unchanged."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.ids: dict[str, list[str | None]] = {kind: [] for kind in kinds}
        self._known: dict[str, list[str]] = {}

    def wrap(self, records: Iterable[Record]) -> Iterator[Record]:
        """Yield every record after noting its kind and event id (one dict lookup and one append)."""
        append = {kind: ids.append for kind, ids in self.ids.items()}
        for record in records:
            append[record[2]](record[3])
            yield record

    def known(self, kind: str) -> list[str]:
        """The kind's event ids, sorted (sorted once; outcomes re-sort concatenated runs cheaply)."""
        if kind not in self._known:
            self._known[kind] = sorted(i for i in self.ids[kind] if i is not None)
        return self._known[kind]

    def kinds(self) -> dict[str, dict[str, Any]]:
        """Per kind: events, how many carried an event id, and the hash of those ids."""
        out = {}
        for kind, ids in self.ids.items():
            known = self.known(kind)
            out[kind] = {"count": len(ids), "with_event_id": len(known), "ids_sha256": _sorted_sha256(known)}
        return out

    def expected(self, outcome_of: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Downstream counts and id hashes per outcome: silver, quarantine by reason code, duplicates."""
        sizes: dict[str, int] = {}
        known: dict[str, list[str]] = {}
        for kind, ids in self.ids.items():
            outcome = outcome_of[kind]
            sizes[outcome] = sizes.get(outcome, 0) + len(ids)
            known.setdefault(outcome, []).extend(self.known(kind))
        counts: dict[str, Any] = {"silver": 0, "quarantine": {}, "duplicates": 0}
        hashes: dict[str, Any] = {"silver": ids_sha256([]), "quarantine": {}, "duplicates": ids_sha256([])}
        for outcome in sorted(sizes):
            size, digest = sizes[outcome], ids_sha256(known[outcome])
            if outcome == "silver":
                counts["silver"], hashes["silver"] = size, digest
            elif outcome == "duplicate":
                counts["duplicates"], hashes["duplicates"] = size, digest
            elif outcome.startswith("quarantine:"):
                code = outcome.split(":", 1)[1]
                counts["quarantine"][code], hashes["quarantine"][code] = size, digest
            else:
                raise ValueError(f"unknown expected outcome {outcome!r} in kafka.events.EXPECTED_OUTCOME")
        return counts, hashes


def build_manifest(
    *,
    tally: KindTally,
    outcome_of: dict[str, str],
    result: DeliveryResult,
    seed: int,
    count: int,
    topic: str,
    bootstrap_servers: str,
    config_source: str,
    contract_version: str,
    anomalies: Any,
    generated_now: datetime,
    started_at: datetime,
    finished_at: datetime,
) -> dict[str, Any]:
    """The manifest document; `count` is what was asked for, kinds' counts are what was handed to Kafka."""
    expected, expected_ids = tally.expected(outcome_of)
    return {
        "seed": seed,
        "count": count,
        "topic": topic,
        "bootstrap_servers": bootstrap_servers,
        "config": config_source,
        "contract_version": contract_version,
        "anomalies": asdict(anomalies),
        "generated_now": generated_now.isoformat(),
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "sent": result.sent,
        "delivered": result.delivered,
        "failed": result.failed,
        "first_error": result.first_error,
        "event_errors": [asdict(e) for e in result.event_errors[:MAX_EVENT_ERRORS_IN_MANIFEST]],
        "bytes": result.bytes,
        "elapsed_s": round(result.elapsed_s, 3),
        "kinds": tally.kinds(),
        "expected": expected,
        "expected_ids_sha256": expected_ids,
    }


def write_manifest(manifest: dict[str, Any], path: Path) -> Path:
    """Write atomically (temp file + rename) so a reader never sees half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
