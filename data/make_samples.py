"""Regenerate data/samples/ (seeded, so the output is the same every time).

    python data/make_samples.py

web_sdk.ndjson: ~4,000 events over 60 days, all funnel stages, 40 companies, the three
input shapes, ~2% resends and ~1% broken lines. edge_batch.json: one edge request body.
billing_export.csv: churned subscriptions, and refunds and chargebacks of some of the
web sample's purchases (every one refers to a purchase that exists), from the billing
system.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import polars as pl

from trackstack_lab.synthetic import SyntheticSpec, generate_lines, write_ndjson

OUT = Path(__file__).parent / "samples"
REFUNDED_EVERY = 2
"""One purchase in this many is refunded or charged back."""


def main() -> None:
    OUT.mkdir(exist_ok=True)
    write_ndjson(OUT / "web_sdk.ndjson", SyntheticSpec(n=4000, seed=2026, coherent_refunds=True))
    edge = generate_lines(
        SyntheticSpec(
            n=150,
            seed=11,
            duplicate_rate=0,
            malformed_rate=0,
            invalid_rate=0,
            shapes=("flat", "nested"),
            shape_weights=(0.5, 0.5),
        )
    )
    body = {"events": [orjson.loads(line) for line in edge.to_list()]}
    (OUT / "edge_batch.json").write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    purchases = [
        e
        for e in (
            orjson.loads(x)
            for x in generate_lines(
                SyntheticSpec(
                    n=30000,
                    seed=29,
                    malformed_rate=0,
                    duplicate_rate=0,
                    invalid_rate=0,
                    shapes=("flat",),
                    shape_weights=(1.0,),
                )
            ).to_list()
        )
        if e["event"] in ("Purchase", "SubscriptionStarted", "SubscriptionRenew")
    ]
    rows: list[dict[str, object]] = [
        {
            "event": "Churned",
            "eventId": f"billing_{i:05d}",
            "ts": p["ts"],
            "email": p.get("email", ""),
            "externalId": p.get("externalId", ""),
            "companyDomain": p["companyDomain"],
            "value": p.get("value", ""),
            "currency": p.get("currency", ""),
            "transactionId": "",
            "refundId": "",
            "plan": p.get("plan", ""),
        }
        for i, p in enumerate(purchases)
        if i % 3 == 2
    ]
    rows += _refunds_of_web_purchases(OUT / "web_sdk.ndjson")
    pl.DataFrame(rows, infer_schema_length=None).cast(pl.String).write_csv(
        OUT / "billing_export.csv"
    )


def _later(ts: object, days: float) -> str:
    """An ISO time ``days`` after a sample timestamp (epoch s/ms or ISO)."""
    if isinstance(ts, (int, float)):
        seconds = ts / 1000 if ts > 10**11 else ts
        when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    else:
        when = dt.datetime.fromisoformat(str(ts))
    return (when + dt.timedelta(days=days)).isoformat()


def _refunds_of_web_purchases(path: Path) -> list[dict[str, object]]:
    """Refunds (half of them partial) and chargebacks of one in `REFUNDED_EVERY` purchases
    of the web sample, so the demo shows Google conversion adjustments and CRM deal
    updates, and net revenue stays that of a real business."""
    rows: list[dict[str, object]] = []
    seen = 0
    for line in path.read_bytes().splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict) or event.get("event") not in (
            "Purchase",
            "SubscriptionStarted",
        ):
            continue
        if not event.get("transactionId") or not isinstance(event.get("value"), (int, float)):
            continue
        seen += 1
        if seen % REFUNDED_EVERY:
            continue
        i = len(rows)
        rows.append(
            {
                "event": "Chargeback" if i % 4 == 3 else "Refund",
                "eventId": f"billing_web_{i:05d}",
                "ts": _later(event["ts"], 1.5),
                "email": event.get("email", ""),
                "externalId": event.get("externalId", ""),
                "companyDomain": event.get("companyDomain", ""),
                "value": event["value"] / 2 if i % 2 == 0 else event["value"],
                "currency": event.get("currency", ""),
                "transactionId": event["transactionId"],
                "refundId": f"re_web_{i:05d}",
                "plan": event.get("plan", ""),
            }
        )
    return rows


if __name__ == "__main__":
    main()
