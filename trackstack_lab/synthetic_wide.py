"""The extra fields of ``SyntheticSpec(wide=True)``: cookies, click IDs, B2B and content
IDs, consent and more at realistic fill rates (about 60 fields per data set)."""

from __future__ import annotations

import numpy as np
import polars as pl


def _some(rng: np.random.Generator, p: float, values: list | np.ndarray) -> pl.Series:
    """``values`` where a ``p``-weighted coin says so, else null."""
    chosen = np.where(rng.random(len(values)) < p, np.asarray(values, dtype=object), None)
    return pl.Series(chosen.tolist(), dtype=pl.String)


def _pick(rng: np.random.Generator, items: list[str], n: int) -> np.ndarray:
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def wide_fields(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The extra fields of ``SyntheticSpec.wide``, from their own random stream."""
    rng = np.random.default_rng(seed + 7_777_777)
    n = frame.height
    ids = rng.integers(0, 2**40, n)

    def some(p: float, values: list | np.ndarray) -> pl.Series:
        return _some(rng, p, values)

    ms = (frame["ts_epoch"].to_numpy() * 1000).astype(np.int64)
    consent = np.asarray(['{"ad_user_data":"granted","ad_personalization":"granted"}',
                          '{"ad_user_data":"denied","ad_personalization":"denied"}'])  # fmt: skip
    extra = {
        "gender": some(0.15, _pick(rng, ["f", "m"], n)),
        "dateOfBirth": some(0.1, [f"19{70 + i % 30}-0{1 + i % 9}-1{i % 10}" for i in ids]),
        "fbp": some(0.55, [f"fb.1.{m}.{i}" for m, i in zip(ms, ids, strict=True)]),
        "fbc": some(0.07, [f"fb.1.{m}.IwAR{i:x}" for m, i in zip(ms, ids, strict=True)]),
        "ttp": some(0.2, [f"ttp{i:x}" for i in ids]),
        "ScCid": some(0.02, [f"sc{i:x}" for i in ids]),
        "rdt_cid": some(0.02, [f"rdt{i:x}" for i in ids]),
        "msclkid": some(0.03, [f"ms{i:x}" for i in ids]),
        "pageTitle": some(0.9, _pick(rng, ["Pricing", "Docs", "Blog", "Sign up", "App"], n)),
        "pagePath": some(0.9, _pick(rng, ["/pricing", "/docs", "/blog", "/sign-up", "/app"], n)),
        "contentId": some(0.3, [f"c{i % 5000}" for i in ids]),
        "contentName": some(0.3, _pick(rng, ["Attribution 101", "API guide", "Case study"], n)),
        "contentCategory": some(0.3, _pick(rng, ["blog", "docs", "webinar"], n)),
        "leadId": some(0.1, [f"lead_{i % 100000}" for i in ids]),
        "companyId": some(0.6, [f"co_{i % 4000}" for i in ids]),
        "accountName": some(0.3, frame["companyName"].to_list()),
        "crmId": some(0.2, [f"003{i:012x}" for i in ids]),
        "opportunityId": some(0.05, [f"006{i:012x}" for i in ids]),
        "salesOwner": some(0.1, _pick(rng, ["sam@seller.example", "kim@seller.example"], n)),
        "orderId": some(0.05, [f"ord_{i:x}" for i in ids]),
        "subscriptionId": some(0.05, [f"sub_{i:x}" for i in ids]),
        "paymentMethod": some(0.05, _pick(rng, ["card", "invoice", "sepa"], n)),
        "feature": some(0.1, _pick(rng, ["export", "enrich", "api"], n)),
        "projectKey": some(0.95, ["pk_live_bench"] * n),
        "userId": some(0.3, [f"u{i % 200000}" for i in ids]),
        "consent": some(0.6, consent[rng.integers(0, 2, n)]),
    }
    wide = frame.with_columns(pl.Series(k, v, dtype=pl.String) for k, v in extra.items())
    return wide.with_columns(pl.col("consent").str.json_decode(
        pl.Struct({"ad_user_data": pl.String, "ad_personalization": pl.String})))  # fmt: skip
