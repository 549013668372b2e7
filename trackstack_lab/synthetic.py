"""Seeded, realistic synthetic TrackStack events, built column-wise with numpy and polars.

Used for the committed demo data (data/make_samples.py), for tests and for benchmarks.
People move through the funnel (most only browse, few pay), events arrive in the three
input shapes (flat SDK, nested ``userData``/``customData``, seed 002 ``event_name``),
and a chosen share are resends of an earlier event, break a contract rule, or are
syntactically broken lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from trackstack_lab.synthetic_wide import wide_fields
from trackstack_wh.contract import (
    CANONICAL_EVENTS,
    FIELDS,
    FUNNEL_STAGES,
    Family,
    Group,
    Stage,
)

_STAGE_EVENTS: dict[Stage, list[str]] = {
    s: [e.name for e in CANONICAL_EVENTS if e.stage is s] for s in Stage
}
_FAMILY = {e.name: e.family for e in CANONICAL_EVENTS}
_FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "José",
    "Zoë",
    "Søren",
    "Mei",
    "Aarav",
    "Olusegun",
]
_LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Núñez",
    "O'Brien",
    "Kierkegaard",
    "Wang",
    "Sharma",
    "Obasanjo",
]
_CITIES = [
    ("San Francisco", "CA", "94107", "US"),
    ("New York", "New York", "10001", "US"),
    ("Austin", "TX", "73301-0001", "US"),
    ("London", "", "EC1A 1BB", "GB"),
    ("Berlin", "", "10115", "Germany"),
    ("Toronto", "ON", "M5H 2N2", "CA"),
    ("Sydney", "NSW", "2000", "AU"),
    ("Bengaluru", "KA", "560001", "IN"),
]
_PLANS = [("Starter", 2900), ("Growth", 9900), ("Scale", 49900)]
_CURRENCIES = ["USD", "USD", "USD", "EUR", "GBP"]
_CONTENT_TYPES = ["blog", "guide", "comparison", "case_study", "webinar"]
_ACTIONS = ["first_search", "first_export", "first_enrichment", "first_api_call"]
_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
_REFERRERS = [
    "https://www.google.com/",
    "https://www.linkedin.com/",
    "https://news.ycombinator.com/",
    "https://www.reddit.com/",
    "",
    "https://t.co/",
]
_PATHS = {
    "PageView": "/",
    "HighIntentPageView": "/pricing",
    "AdLandingPageView": "/lp/demo",
    "ContentView": "/blog/b2b-attribution",
    "SignUp": "/sign-up",
}
_STAGE_REACH = np.array([1.0, 0.45, 0.22, 0.14, 0.08])
"""Share of people who reach each funnel stage."""

SHAPES = ("flat", "nested", "seed002")
_NESTED_IDENTITY = [f.name for f in FIELDS if f.group is Group.IDENTITY]
_NESTED_CUSTOM = [
    "value",
    "currency",
    "transactionId",
    "orderId",
    "plan",
    "refundId",
    "contentType",
    "actionType",
]
_BROKEN = [
    '{"event":"PageView","eventId":"x1",}',
    '{"event":"Purchase","value":NaN}',
    "not json at all",
    '{{"event":"SignUp"}',
    '{"event":"SignUp","email":undefined}',
]


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Rates are shares of ``n`` (the number of clean events)."""

    n: int
    seed: int = 7
    start: dt.datetime = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    days: int = 60
    companies: int = 40
    duplicate_rate: float = 0.02
    malformed_rate: float = 0.01
    invalid_rate: float = 0.005
    twin_rate: float = 0.2
    """Share of revenue events also sent by a second source (server copy of a browser
    purchase): same transactionId, a new eventId, a few seconds later."""
    shapes: tuple[str, ...] = SHAPES
    shape_weights: tuple[float, ...] = (0.6, 0.25, 0.15)
    wide: bool = False
    """Also fill ~25 more contract fields (cookies, B2B and content IDs, consent, ...) at
    realistic rates, for ~60 fields per event as production SDKs send (benchmarks); the
    default output is unchanged by this option."""
    coherent_refunds: bool = False
    """Each refund or chargeback takes back (half or all of) the person's latest earlier
    purchase, in its currency and with its transactionId; one with no purchase before it
    becomes a Purchase (the committed samples; the default output is unchanged)."""


def _choice(rng: np.random.Generator, items: list[str], n: int) -> np.ndarray:
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def _mask(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.random(n) < p


def _events_frame(spec: SyntheticSpec, rng: np.random.Generator) -> pl.DataFrame:
    """One row per clean event with every field as a typed column (nulls where absent)."""
    n = spec.n
    people = max(n // 6, 20)
    person = np.minimum(rng.zipf(1.6, n) - 1, people - 1)
    person = (person * 7919 + rng.integers(0, people, n) * (rng.random(n) < 0.7)) % people
    depth = np.searchsorted(-_STAGE_REACH, -rng.random(people), side="right").clip(1, 5)
    stage_idx = (rng.random(n) ** 1.8 * depth[person]).astype(int).clip(0, 4)
    names = np.empty(n, dtype=object)
    for i, stage in enumerate(FUNNEL_STAGES):
        sel = stage_idx == i
        names[sel] = _choice(rng, _STAGE_EVENTS[stage], int(sel.sum()))
    product = _mask(rng, n, 0.06)
    names[product] = _choice(rng, _STAGE_EVENTS[Stage.PRODUCT], int(product.sum()))
    person_start = rng.uniform(0, max(spec.days - 12, 1), people)
    offset_days = (
        person_start[person] + stage_idx * rng.uniform(0.2, 2.5, n) + rng.exponential(0.4, n)
    )
    offset_days = np.minimum(offset_days, spec.days - 0.01)
    epoch = spec.start.timestamp() + offset_days * 86400.0
    company = person % spec.companies
    first = np.asarray(_FIRST_NAMES, dtype=object)[person % len(_FIRST_NAMES)]
    last = np.asarray(_LAST_NAMES, dtype=object)[(person // 3) % len(_LAST_NAMES)]
    city = np.asarray(_CITIES, dtype=object)[person % len(_CITIES)]
    fam = np.array([_FAMILY[x].value for x in names], dtype=object)
    revenue = np.isin(fam, [Family.PURCHASE.value, Family.REFUND.value])
    plan_idx = person % len(_PLANS)
    event_ids = [
        f"{a:016x}-{b:08x}" for a, b in zip(rng.integers(0, 2**63, n), np.arange(n), strict=True)
    ]
    has_email = _mask(rng, n, 0.8) | np.isin(fam, [Family.LEAD.value, Family.SIGNUP.value])
    cols: dict[str, object] = {
        "event": names,
        "eventId": event_ids,
        "ts_epoch": epoch,
        "email": np.where(
            has_email,
            [
                f"{f.lower()}.{p}@acme{c}.example"
                for f, p, c in zip(first, person, company, strict=True)
            ],
            None,
        ),
        "phone": np.where(
            _mask(rng, n, 0.35), [f"+1 (415) 555-{p % 10000:04d}" for p in person], None
        ),
        "firstName": np.where(_mask(rng, n, 0.6), first, None),
        "lastName": np.where(_mask(rng, n, 0.6), last, None),
        "city": np.where(_mask(rng, n, 0.4), city[:, 0], None),
        "state": np.where(_mask(rng, n, 0.4), city[:, 1], None),
        "zip": np.where(_mask(rng, n, 0.4), city[:, 2], None),
        "country": np.where(_mask(rng, n, 0.5), city[:, 3], None),
        "externalId": np.where(stage_idx >= 2, [f"user_{p}" for p in person], None),
        "value": np.where(revenue, np.asarray([p[1] for p in _PLANS])[plan_idx], np.nan),
        "currency": np.where(revenue, _choice(rng, _CURRENCIES, n), None),
        "transactionId": np.where(revenue, [f"txn_{i:x}" for i in rng.integers(0, 2**40, n)], None),
        "refundId": np.where(
            fam == Family.REFUND.value, [f"re_{i:x}" for i in rng.integers(0, 2**40, n)], None
        ),
        "plan": np.where(
            revenue | (names == "StartTrial"), np.asarray([p[0] for p in _PLANS])[plan_idx], None
        ),
        "companyDomain": [f"acme{c}.example" for c in company],
        "companyName": [f"Acme {c} Inc." for c in company],
        "contentType": np.where(fam == Family.CONTENT.value, _choice(rng, _CONTENT_TYPES, n), None),
        "actionType": np.where(fam == Family.FIRST_ACTION.value, _choice(rng, _ACTIONS, n), None),
        "pageUrl": [
            f"https://app{c % 3}.example.com{_PATHS.get(x, '/app')}"
            for c, x in zip(company, names, strict=True)
        ],
        "referrer": _choice(rng, _REFERRERS, n),
        "userAgent": _choice(rng, _AGENTS, n),
        "clientIp": [f"203.0.{p % 256}.{(p // 256) % 256}" for p in person],
        "fbclid": np.where(
            _mask(rng, n, 0.08), [f"IwAR{i:x}" for i in rng.integers(0, 2**40, n)], None
        ),
        "gclid": np.where(
            _mask(rng, n, 0.12), [f"Cj0K{i:x}" for i in rng.integers(0, 2**40, n)], None
        ),
        "li_fat_id": np.where(
            _mask(rng, n, 0.06), [f"li-{i:x}" for i in rng.integers(0, 2**40, n)], None
        ),
        "ttclid": np.where(
            _mask(rng, n, 0.03), [f"tt{i:x}" for i in rng.integers(0, 2**40, n)], None
        ),
        "sessionId": [f"s_{p}_{int(d)}" for p, d in zip(person, offset_days, strict=True)],
    }
    frame = pl.DataFrame({k: pl.Series(k, _plain(v), strict=True) for k, v in cols.items()})
    frame = frame.with_columns(pl.col("value").fill_nan(None))
    return _refunds_of_purchases(frame, person) if spec.coherent_refunds else frame


def _refunds_of_purchases(frame: pl.DataFrame, person: np.ndarray) -> pl.DataFrame:
    """Refunds and chargebacks tied to the person's latest earlier purchase (see
    ``SyntheticSpec.coherent_refunds``); row order and count are kept."""
    family = pl.col("event").replace_strict(
        {name: f.value for name, f in _FAMILY.items()}, default=None
    )
    rows = frame.with_columns(_person=pl.Series(person), _row=pl.int_range(pl.len()))
    purchases = (
        rows.filter(family == Family.PURCHASE.value)
        .select("_person", "ts_epoch", p_txn="transactionId", p_cur="currency", p_val="value")
        .sort("ts_epoch")
    )
    refunds = rows.filter(family == Family.REFUND.value).select("_row", "_person", "ts_epoch")
    matched = refunds.sort("ts_epoch").join_asof(
        purchases, on="ts_epoch", by="_person", strategy="backward", check_sortedness=False
    )  # both sorted by time (the check cannot look inside the person groups)
    tied = rows.join(matched.drop("_person", "ts_epoch"), on="_row", how="left")
    is_refund = family == Family.REFUND.value
    has_purchase = pl.col("p_txn").is_not_null()
    return (
        tied.with_columns(
            event=pl.when(is_refund & ~has_purchase).then(pl.lit("Purchase")).otherwise("event"),
            refundId=pl.when(is_refund & ~has_purchase).then(None).otherwise("refundId"),
            transactionId=pl.when(has_purchase).then("p_txn").otherwise("transactionId"),
            currency=pl.when(has_purchase).then("p_cur").otherwise("currency"),
            value=pl.when(has_purchase)
            .then(pl.when(pl.col("_row") % 2 == 0).then(pl.col("p_val") / 2).otherwise("p_val"))
            .otherwise("value"),
        )
        .sort("_row")
        .drop("_person", "_row", "p_txn", "p_cur", "p_val")
    )


def _plain(values: object) -> object:
    """numpy object arrays become lists so polars infers String, not Object."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values.tolist()
    return values


def _iso(ts_epoch: pl.Expr) -> pl.Expr:
    return (
        (ts_epoch * 1_000_000)
        .cast(pl.Int64)
        .cast(pl.Datetime("us", "UTC"))
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    )


def _encode(frame: pl.DataFrame, shape: str, ts_style: np.ndarray) -> pl.Series:
    """JSON lines for one shape; absent (null) keys are left out."""
    ts = (
        pl.when(pl.lit(ts_style) == 0)
        .then(pl.col("ts_epoch").round(0).cast(pl.Int64).cast(pl.String))
        .when(pl.lit(ts_style) == 1)
        .then((pl.col("ts_epoch") * 1000).round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(pl.concat_str(pl.lit('"'), _iso(pl.col("ts_epoch")), pl.lit('"')))
    )
    rest = [c for c in frame.columns if c not in ("event", "eventId", "ts_epoch")]
    head = [
        pl.lit('{"event":'),
        pl.col("event").pipe(_quote),
        pl.lit(',"eventId":'),
        pl.col("eventId").pipe(_quote),
        pl.lit(',"ts":'),
        ts,
    ]
    if shape == "flat":
        lines = pl.concat_str(*head, pl.lit(","), pl.struct(rest).struct.json_encode().str.slice(1))
    elif shape == "nested":
        ident = [c for c in rest if c in _NESTED_IDENTITY]
        custom = [c for c in rest if c in _NESTED_CUSTOM]
        other = [c for c in rest if c not in ident and c not in custom]
        lines = pl.concat_str(
            *head,
            pl.lit(',"userData":'),
            pl.struct(ident).struct.json_encode(),
            pl.lit(',"customData":'),
            pl.struct(custom).struct.json_encode(),
            pl.lit(","),
            pl.struct(other).struct.json_encode().str.slice(1),
        )
    else:
        data = frame.select(
            pl.col("value"),
            pl.col("email"),
            pl.col("currency"),
            pl.col("transactionId"),
            pl.col("plan"),
            pl.col("contentType"),
            pl.col("actionType"),
            pl.col("refundId"),
            pl.lit("web").alias("category"),
            pl.col("companyDomain").alias("label"),
        )
        top = frame.select(
            "externalId", "sessionId", "referrer", "userAgent", pl.col("pageUrl").alias("url")
        )
        lines = pl.concat_str(
            pl.lit('{"projectKey":"pk_demo","event_name":'),
            pl.col("event").pipe(_quote),
            pl.lit(',"eventId":'),
            pl.col("eventId").pipe(_quote),
            pl.lit(',"timestamp":"'),
            _iso(pl.col("ts_epoch")),
            pl.lit('"'),
            pl.lit(',"event_data":'),
            pl.Series(data.to_struct()).struct.json_encode(),
            pl.lit(","),
            pl.Series(top.rename({"externalId": "userId"}).to_struct())
            .struct.json_encode()
            .str.slice(1),
        )
    out = frame.select(lines.alias("line"))["line"]
    return out.str.replace_all(r',"[A-Za-z_]+":null', "").str.replace_all(
        r'\{"[A-Za-z_]+":null,?', "{"
    )


def _quote(s: pl.Expr) -> pl.Expr:
    """JSON string literal for plain ASCII values (event names and generated IDs)."""
    return pl.concat_str(pl.lit('"'), s, pl.lit('"'))


def _break_rules(frame: pl.DataFrame, rng: np.random.Generator, rate: float) -> pl.DataFrame:
    """Make a share of events violate one contract rule each (caught by validation)."""
    n = frame.height
    kind = np.where(rng.random(n) < rate, rng.integers(1, 5, n), 0)
    return frame.with_columns(
        event=pl.when(pl.lit(kind == 1)).then(pl.lit("not a real event")).otherwise("event"),
        currency=pl.when(pl.lit(kind == 2) & pl.col("currency").is_not_null())
        .then(pl.lit("DOLLARS"))
        .otherwise("currency"),
        email=pl.when(pl.lit(kind == 3) & pl.col("event").is_in(["SignUp", "LeadCaptured"]))
        .then(None)
        .otherwise("email"),
        value=pl.when(pl.lit(kind == 4) & pl.col("value").is_not_null())
        .then(-pl.col("value"))
        .otherwise("value"),
    )


def _with_twins(frame: pl.DataFrame, rng: np.random.Generator, rate: float) -> pl.DataFrame:
    """Append a second copy of some revenue events under a new eventId, seconds later."""
    revenue = np.flatnonzero(frame["transactionId"].is_not_null().to_numpy())
    picked = np.sort(rng.choice(revenue, int(revenue.size * rate), replace=False))
    if picked.size == 0:
        return frame
    twins = frame[picked].with_columns(
        eventId=pl.col("eventId") + "-server",
        ts_epoch=pl.col("ts_epoch") + pl.Series(rng.uniform(2, 120, picked.size)),
    )
    return pl.concat([frame, twins])


def generate_lines(spec: SyntheticSpec) -> pl.Series:
    """All lines of one NDJSON file: clean events, resends, rule breakers, broken lines."""
    rng = np.random.default_rng(spec.seed)
    frame = _with_twins(
        _break_rules(_events_frame(spec, rng), rng, spec.invalid_rate), rng, spec.twin_rate
    )
    if spec.wide:
        frame = wide_fields(frame, spec.seed)
    n = frame.height
    shape_of = rng.choice(
        len(spec.shapes), n, p=np.asarray(spec.shape_weights) / sum(spec.shape_weights)
    )
    ts_style = rng.integers(0, 3, n)
    lines = pl.Series("line", [None] * n, dtype=pl.String)
    for i, shape in enumerate(spec.shapes):
        idx = np.flatnonzero(shape_of == i)
        if idx.size:
            encoded = _encode(frame[idx], shape, ts_style[idx])
            lines = lines.scatter(idx, encoded)
    lines = lines.gather(np.argsort(frame["ts_epoch"].to_numpy(), kind="stable"))
    resent = np.sort(rng.choice(n, int(spec.n * spec.duplicate_rate), replace=False))
    broken = rng.choice(len(_BROKEN), int(spec.n * spec.malformed_rate))
    extra = pl.concat(
        [
            lines.gather(resent),
            pl.Series("line", np.asarray(_BROKEN, dtype=object)[broken], dtype=pl.String),
        ]
    )
    keys = np.concatenate(
        [
            np.arange(n, dtype=float),
            resent + rng.uniform(0.5, 50, resent.size),
            rng.uniform(-0.5, n, broken.size),
        ]
    )
    return pl.concat([lines, extra]).gather(np.argsort(keys, kind="stable"))


def iter_lines(spec: SyntheticSpec, chunk: int = 200_000) -> Iterator[pl.Series]:
    """Generate a large file in bounded memory: consecutive chunks with derived seeds."""
    done = 0
    part = 0
    while done < spec.n:
        size = min(chunk, spec.n - done)
        sub = SyntheticSpec(**{**spec.__dict__, "n": size, "seed": spec.seed * 1_000_003 + part})
        yield generate_lines(sub)
        done += size
        part += 1


def write_ndjson(path: Path, spec: SyntheticSpec) -> int:
    """Write ``spec`` as NDJSON to ``path``; returns the number of lines written."""
    total = 0
    with open(path, "wb") as out:
        for lines in iter_lines(spec):
            text = "\n".join(lines.to_list()) + "\n"
            out.write(text.encode())
            total += lines.len()
    return total
