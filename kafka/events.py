"""Seeded storefront events, serialised from byte templates so generation keeps up with delivery."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import repeat

from kafka.contract import (
    FUTURE_TIMESTAMP,
    INVALID_ENUM,
    INVALID_FORMAT,
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_FIELD,
    OUT_OF_RANGE,
    WRONG_TYPE,
    load_contract,
    schema_version,
)


@dataclass(frozen=True)
class AnomalyMix:
    """Share of the whole stream given to each kind of bad or awkward record; the rest is valid."""

    malformed_json: float = 0.005
    missing_field: float = 0.005
    wrong_type: float = 0.005
    negative_price: float = 0.005
    unknown_event_type: float = 0.005
    future_timestamp: float = 0.005
    invalid_utf8: float = 0.002
    trailing_newline: float = 0.001
    long_decimal: float = 0.001
    ancient_timestamp: float = 0.001
    duplicate: float = 0.01
    late: float = 0.01

    def __post_init__(self) -> None:
        for item in fields(self):
            share = getattr(self, item.name)
            if not (isinstance(share, (int, float)) and 0.0 <= share <= 1.0):
                raise ValueError(f"AnomalyMix.{item.name} must be a share between 0 and 1, got {share!r}")
        if self.total() > 1.0:
            raise ValueError(f"AnomalyMix shares add up to {self.total():.4f}; they must total at most 1")

    def total(self) -> float:
        """The share of the stream that is not a plain valid event."""
        return math.fsum(getattr(self, item.name) for item in fields(self))


DEFAULT_ANOMALIES = AnomalyMix()
NO_ANOMALIES = AnomalyMix(**{item.name: 0.0 for item in fields(AnomalyMix)})
KINDS: tuple[str, ...] = ("valid", *(item.name for item in fields(AnomalyMix)))
EXPECTED_OUTCOME: dict[str, str] = {
    "valid": "silver",
    "late": "silver",
    "long_decimal": "silver",
    "ancient_timestamp": "silver",
    "trailing_newline": f"quarantine:{INVALID_FORMAT}",
    "duplicate": "duplicate",
    "malformed_json": f"quarantine:{INVALID_JSON}",
    "missing_field": f"quarantine:{MISSING_FIELD}",
    "wrong_type": f"quarantine:{WRONG_TYPE}",
    "negative_price": f"quarantine:{OUT_OF_RANGE}",
    "unknown_event_type": f"quarantine:{INVALID_ENUM}",
    "future_timestamp": f"quarantine:{FUTURE_TIMESTAMP}",
    "invalid_utf8": f"quarantine:{INVALID_UTF8}",
}

USERS = 50_000
PRODUCTS = 2_000
SPAN_MS = 3 * 24 * 3600 * 1000
MAX_SESSION_MS = 30 * 60 * 1000
_CATALOG_SEED = 20_250_601
_MAX_VIEWS = 16
_MAX_GAP_MS = (MAX_SESSION_MS - 60_000) // (_MAX_VIEWS + 4)
_CART_RATE = 0.15
_PURCHASE_GIVEN_CART = 0.3
_PRODUCT_PAGE_RATE = 0.75
_PAGE_SLOTS = 1 << 16
_NO_PRICE = '"price_gbp":null,"quantity":null'
_MEAN_EXTRA_VIEWS = 4.0
_BATCH = 4096
_UUID_V4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_V4_BITS = (0x4 << 76) | (0x2 << 62)
_UUID_V4_MASKS = int.from_bytes(_UUID_V4_MASK.to_bytes(16, "big") * _BATCH, "big")
_UUID_V4_SETS = int.from_bytes(_UUID_V4_BITS.to_bytes(16, "big") * _BATCH, "big")
_DEVICES = (("mobile", 0.6), ("desktop", 0.3), ("tablet", 0.1))
_COUNTRIES = (
    ("GB", 0.55), ("IE", 0.08), ("US", 0.08), ("FR", 0.07), ("DE", 0.07),
    ("NL", 0.05), ("ES", 0.05), ("IT", 0.03), ("SE", 0.02),
)  # fmt: skip
_PRICE = re.compile(rb'"price_gbp":[0-9.]+')
_PATTERNED = ("user_id", "session_id", "product_id", "country", "schema_version")
_ANCIENT = (
    "0001-01-01T00:00:00.000Z",
    "1600-01-01T00:00:00.000Z",
    "1677-09-21T00:12:43.145Z",
    "1899-12-31T23:59:59.999Z",
)
_UNKNOWN_EVENT_TYPES = ("refund", "wishlist_add", "PURCHASE", "page-view", "checkout_start")
_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82")
_UUID_GROUPS = re.compile(r"(.{8})(.{4})(.{4})(.{4})(.{12})")
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND_AND_MILLIS = tuple(f"{second:02d}.{milli:03d}Z" for second in range(60) for milli in range(1000))


@dataclass(frozen=True)
class _Catalog:
    """Fixed users and products (the same for every seed), pre-rendered as JSON fragments."""

    user_ids: tuple[str, ...]
    user_keys: tuple[bytes, ...]
    user_tails: tuple[str, ...]
    user_attrs: tuple[tuple[str, str], ...]
    product_ids: tuple[str, ...]
    prices: tuple[str, ...]
    carts: tuple[str, ...]
    purchases: tuple[str, ...]
    pages: tuple[str, ...]
    page_products: tuple[int, ...]
    view_counts: tuple[int, ...]
    required: tuple[str, ...]
    version: str


@lru_cache(maxsize=1)
def _catalog() -> _Catalog:
    """Build the catalogue once per process from its own fixed seed."""
    rng = random.Random(_CATALOG_SEED)
    version = schema_version()
    devices = rng.choices([d for d, _ in _DEVICES], [w for _, w in _DEVICES], k=USERS)
    countries = rng.choices([c for c, _ in _COUNTRIES], [w for _, w in _COUNTRIES], k=USERS)
    user_ids = tuple(f"u_{index:07d}" for index in range(USERS))
    product_ids = tuple(f"p_{index:05d}" for index in range(PRODUCTS))
    pence = [max(99, min(499_999, round(rng.lognormvariate(3.0, 1.0)) * 100 - 1)) for _ in product_ids]
    prices = tuple(f"{p // 100}.{p % 100:02d}" for p in pence)
    page_products = tuple(
        int((slot / _PAGE_SLOTS) ** 2 * PRODUCTS) if rng.random() < _PRODUCT_PAGE_RATE else -1
        for slot in range(_PAGE_SLOTS)
    )
    view_fragments = [f',"event_type":"page_view","product_id":"{pid}",{_NO_PRICE}' for pid in product_ids]
    no_product = f',"event_type":"page_view","product_id":null,{_NO_PRICE}'
    return _Catalog(
        user_ids=user_ids,
        user_keys=tuple(uid.encode() for uid in user_ids),
        user_tails=tuple(
            f',"user_id":"{uid}","device":"{dev}","country":"{cc}","schema_version":"{version}"}}'
            for uid, dev, cc in zip(user_ids, devices, countries, strict=True)
        ),
        user_attrs=tuple(zip(devices, countries, strict=True)),
        product_ids=product_ids,
        prices=prices,
        carts=tuple(
            f',"event_type":"add_to_cart","product_id":"{pid}","price_gbp":{price},"quantity":'
            for pid, price in zip(product_ids, prices, strict=True)
        ),
        purchases=tuple(
            f',"event_type":"purchase","product_id":"{pid}","price_gbp":{price},"quantity":'
            for pid, price in zip(product_ids, prices, strict=True)
        ),
        pages=tuple(view_fragments[product] if product >= 0 else no_product for product in page_products),
        page_products=page_products,
        view_counts=tuple(
            min(_MAX_VIEWS, 1 + int(-math.log(1 - (slot + 0.5) / 256) * _MEAN_EXTRA_VIEWS)) for slot in range(256)
        ),
        required=tuple(load_contract()["required"]),
        version=version,
    )


def generate(
    count: int,
    *,
    seed: int,
    anomalies: AnomalyMix | None = None,
    now: datetime | None = None,
) -> Iterator[tuple[bytes, bytes, str, str | None]]:
    """Yield exactly `count` (key, value, kind, event_id) records; the same arguments give the same bytes."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    mix = DEFAULT_ANOMALIES if anomalies is None else anomalies
    now_ms = _epoch_ms(now if now is not None else _default_now())
    catalog = _catalog()
    rng = random.Random(seed)
    draw, bits = rng.random, rng.getrandbits
    thresholds = _thresholds(mix)
    anomaly_share = thresholds[-1][0] if thresholds else 0.0
    first_ms = now_ms - SPAN_MS
    step_ms = (SPAN_MS - MAX_SESSION_MS) / max(count, 1)
    sessions = _Sessions(rng, catalog, first_ms, step_ms / max(1.0 - anomaly_share, 0.01))
    previous: list[tuple[bytes, bytes, str, str | None]] = []
    skip = _Skipper(draw, anomaly_share)
    next_odd = skip()

    for batch_start in range(0, count, _BATCH):
        size = min(_BATCH, count - batch_start)
        odd = []
        while next_odd < batch_start + size:
            odd.append(next_odd - batch_start)
            next_odd += 1 + skip()
        valid = sessions.take(size - len(odd))
        if not odd:
            yield from valid
            previous = valid
            continue
        batch: list[tuple[bytes, bytes, str, str | None]] = []
        taken = 0
        for before, index in enumerate(odd):
            valid_before = index - before
            batch.extend(valid[taken:valid_before])
            taken = valid_before
            roll = draw() * anomaly_share
            kind = next((name for limit, name in thresholds if roll < limit), thresholds[-1][1])
            stream_ms = first_ms + int((batch_start + index) * step_ms)
            if kind == "duplicate":
                original = _earlier(valid, valid_before, previous, bits(12))
                if original is not None:
                    batch.append((original[0], original[1], kind, original[3]))
                    continue
                kind = "late"
            batch.append(_anomaly(kind, rng, catalog, sessions.timestamps, stream_ms, now_ms))
        batch.extend(valid[taken:])
        yield from batch
        previous = valid


class _Skipper:
    """How many plain valid records come before the next odd one: one geometric draw per anomaly."""

    def __init__(self, draw, share: float) -> None:
        self.draw = draw
        self.log_keep = math.log1p(-share) if 0.0 < share < 1.0 else None
        self.never = share <= 0.0

    def __call__(self) -> int | float:
        if self.never:
            return math.inf
        if self.log_keep is None:
            return 0
        return int(math.log(1.0 - self.draw()) / self.log_keep)


def _earlier(
    valid: list[tuple[bytes, bytes, str, str | None]],
    valid_before: int,
    previous: list[tuple[bytes, bytes, str, str | None]],
    back: int,
) -> tuple[bytes, bytes, str, str | None] | None:
    """The valid record `back` places before this point (this batch, then the last), or the nearest one."""
    if back < valid_before:
        return valid[valid_before - 1 - back]
    if back - valid_before < len(previous):
        return previous[-1 - (back - valid_before)]
    if valid_before:
        return valid[valid_before - 1]
    return previous[-1] if previous else None


class _Sessions:
    """An endless run of browsing sessions, cut into batches of valid records with fresh event ids."""

    def __init__(self, rng: random.Random, catalog: _Catalog, first_ms: int, step_ms: float) -> None:
        self.rng = rng
        self.catalog = catalog
        self.timestamps = _TimestampFormatter()
        self.first_ms = first_ms
        self.last_start_ms = first_ms + SPAN_MS - MAX_SESSION_MS
        self.step_ms = step_ms
        self.made = 0
        self.keys: list[bytes] = []
        self.bodies: list[str] = []

    def take(self, count: int) -> list[tuple[bytes, bytes, str, str | None]]:
        """The next `count` valid records, in session order."""
        while len(self.bodies) < count:
            self._session()
        keys, self.keys = self.keys[:count], self.keys[count:]
        bodies, self.bodies = self.bodies[:count], self.bodies[count:]
        event_ids = self._event_ids(count)
        values = [f'{{"event_id":"{eid}"{body}'.encode() for eid, body in zip(event_ids, bodies, strict=True)]
        return list(zip(keys, values, repeat("valid"), event_ids))

    def _event_ids(self, count: int) -> list[str]:
        """`count` random version 4 UUIDs, drawn and masked as one big integer."""
        if not count:
            return []
        masked = self.rng.getrandbits(128 * count) & _UUID_V4_MASKS >> (128 * (_BATCH - count)) | (
            _UUID_V4_SETS >> (128 * (_BATCH - count))
        )
        return ["-".join(groups) for groups in _UUID_GROUPS.findall(format(masked, f"0{32 * count}x"))]

    def _session(self) -> None:
        """Append one user's session: page views, sometimes a cart, rarely a purchase, in time order."""
        rng, catalog, minutes = self.rng, self.catalog, self.timestamps.minutes
        bits, draw = rng.getrandbits, rng.random
        user = int(draw() * USERS)
        tail = f',"session_id":"s_{bits(64):016x}"{catalog.user_tails[user]}'
        moment = min(self.first_ms + int(self.made * self.step_ms), self.last_start_ms)
        bodies = self.bodies
        before = len(bodies)
        pages, seconds_and_millis, max_gap = catalog.pages, _SECOND_AND_MILLIS, _MAX_GAP_MS
        slot = 0
        for _ in range(catalog.view_counts[bits(8)]):
            roll = bits(32)
            moment += 1 + ((roll & 0xFFFF) * max_gap >> 16)
            minute, within = divmod(moment, 60_000)
            prefix = minutes.get(minute) or self.timestamps.minute(minute)
            slot = roll >> 16
            bodies.append(f',"event_ts":"{prefix}{seconds_and_millis[within]}"{pages[slot]}{tail}')
        if draw() < _CART_RATE:
            last_viewed = catalog.page_products[slot]
            basket = [last_viewed if last_viewed >= 0 else _popular_product(draw)]
            if draw() < 0.2:
                basket.append(_popular_product(draw))
            quantities = [1 + int(draw() * draw() * 4) for _ in basket]
            for item, quantity in zip(basket, quantities, strict=True):
                moment += 1 + int(draw() * _MAX_GAP_MS)
                bodies.append(f',"event_ts":"{self.timestamps(moment)}"{catalog.carts[item]}{quantity}{tail}')
            if draw() < _PURCHASE_GIVEN_CART:
                moment += 1 + int(draw() * _MAX_GAP_MS)
                for item, quantity in zip(basket, quantities, strict=True):
                    moment += 1 + bits(10)
                    stamp = self.timestamps(moment)
                    bodies.append(f',"event_ts":"{stamp}"{catalog.purchases[item]}{quantity}{tail}')
        added = len(bodies) - before
        self.keys.extend([catalog.user_keys[user]] * added)
        self.made += added


def _popular_product(draw) -> int:
    """A product index skewed towards the first products, as real catalogues have best sellers."""
    roll = draw()
    return int(roll * roll * PRODUCTS)


def _anomaly(
    kind: str,
    rng: random.Random,
    catalog: _Catalog,
    timestamps: _TimestampFormatter,
    stream_ms: int,
    now_ms: int,
) -> tuple[bytes, bytes, str, str | None]:
    """One labelled record that breaks exactly the rule its kind names (or, for late, none)."""
    user = int(rng.random() * USERS)
    event = _cart_event(rng, catalog, user)
    event_id: str | None = event["event_id"]
    if kind == "late":
        event["event_ts"] = timestamps(stream_ms - 3_600_000 - int(rng.random() * 11 * 3_600_000))
        if rng.random() < 0.7:
            event.update(event_type="page_view", price_gbp=None, quantity=None)
        return catalog.user_keys[user], _dumps(event), kind, event_id
    event["event_ts"] = timestamps(stream_ms)
    if kind == "malformed_json":
        text = _dumps(event)
        broken = text[: 1 + int(rng.random() * (len(text) - 2))] if rng.random() < 0.7 else text[:-1] + b",}"
        return catalog.user_keys[user], broken, kind, None
    if kind == "invalid_utf8":
        marker = b'"session_id":"s_'
        value = _dumps(event).replace(marker, marker + _pick(rng, _BAD_UTF8))
        return catalog.user_keys[user], value, kind, None
    if kind == "missing_field":
        dropped = _pick(rng, catalog.required)
        del event[dropped]
        event_id = None if dropped == "event_id" else event_id
    elif kind == "wrong_type":
        target = _pick(rng, ("quantity", "price_gbp", "user_id"))
        event[target] = str(event[target]) if target != "user_id" else user
    elif kind == "negative_price":
        event["price_gbp"] = -event["price_gbp"]
    elif kind == "unknown_event_type":
        event["event_type"] = _pick(rng, _UNKNOWN_EVENT_TYPES)
    elif kind == "future_timestamp":
        event["event_ts"] = timestamps(now_ms + 86_400_000 + int(rng.random() * 6 * 86_400_000))
    elif kind == "trailing_newline":
        target = _pick(rng, _PATTERNED)
        event[target] = (event[target] or "p_0") + "\n"
    elif kind == "long_decimal":
        exact = f'"price_gbp":{event["price_gbp"]:.2f}{"0" * (30 + int(rng.random() * 20))}'.encode()
        return catalog.user_keys[user], _PRICE.sub(exact, _dumps(event), count=1), kind, event_id
    elif kind == "ancient_timestamp":
        event["event_ts"] = _pick(rng, _ANCIENT)
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; expected one of {KINDS}")
    return catalog.user_keys[user], _dumps(event), kind, event_id


def _cart_event(rng: random.Random, catalog: _Catalog, user: int) -> dict:
    """A valid add_to_cart or purchase as a dict, the base every anomaly is cut from."""
    product = _popular_product(rng.random)
    device, country = catalog.user_attrs[user]
    hexed = "%032x" % (rng.getrandbits(128) & _UUID_V4_MASK | _UUID_V4_BITS)
    return {
        "event_id": f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}",
        "event_ts": None,
        "event_type": "purchase" if rng.random() < 0.3 else "add_to_cart",
        "product_id": catalog.product_ids[product],
        "price_gbp": float(catalog.prices[product]),
        "quantity": 1 + int(rng.random() * 3),
        "session_id": f"s_{rng.getrandbits(64):016x}",
        "user_id": catalog.user_ids[user],
        "device": device,
        "country": country,
        "schema_version": catalog.version,
    }


def _pick(rng: random.Random, options: tuple):
    """One of `options`, uniformly, without random.choice's slower Python path."""
    return options[int(rng.random() * len(options))]


def _dumps(event: dict) -> bytes:
    """Compact JSON like the fast path's; a price float's repr is its exact two-decimal text."""
    return _COMPACT_JSON.encode(event).encode()


def _thresholds(mix: AnomalyMix) -> list[tuple[float, str]]:
    """Cumulative upper bounds of each anomaly kind's share, for one uniform draw per record."""
    bounds, running = [], 0.0
    for item in fields(mix):
        share = getattr(mix, item.name)
        if share > 0:
            running += share
            bounds.append((running, item.name))
    return bounds


class _TimestampFormatter:
    """RFC 3339 UTC millisecond text from epoch milliseconds, formatting each minute only once."""

    def __init__(self) -> None:
        self.minutes: dict[int, str] = {}

    def __call__(self, epoch_ms: int) -> str:
        minute, within = divmod(epoch_ms, 60_000)
        return (self.minutes.get(minute) or self.minute(minute)) + _SECOND_AND_MILLIS[within]

    def minute(self, minute: int) -> str:
        """The text up to the seconds of one minute since the epoch, remembered for the next events."""
        prefix = self.minutes[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        return prefix


def _epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("generate(now=...) needs a timezone-aware datetime (UTC), got a naive one")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _default_now() -> datetime:
    """The current UTC time truncated to the minute, so runs within one minute agree."""
    return datetime.now(UTC).replace(second=0, microsecond=0)
