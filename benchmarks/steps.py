"""The steps benchmarks/run_all.py times, each run as ``python steps.py STEP ARGS...`` in
a fresh process; each prints one JSON line of details."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator

import orjson

PUSH_SETTINGS = {"requests_per_second": 10_000}
"""Pacing lifted for the loopback emulator (the platforms' real limits are far lower)."""


def generate(path: str, events: str, seed: str) -> dict:
    from trackstack_lab.synthetic import SyntheticSpec, write_ndjson

    lines = write_ndjson(path, SyntheticSpec(n=int(events), seed=int(seed), wide=True))
    return {"lines": lines}


def warm(path: str) -> dict:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
    return {}


def floor(path: str, db: str) -> dict:
    import duckdb

    conn = duckdb.connect(db)
    conn.execute("set enable_progress_bar = false")
    conn.execute("create table t as select * from read_json(?, ignore_errors=true)", [path])
    return {"rows": conn.sql("select count(*) from t").fetchall()[0][0]}


def _warehouse(db: str, config: str):  # noqa: ANN202
    import trackstack_wh as tw

    return tw.connect(db, config=config)


def ingest(path: str, db: str, config: str) -> dict:
    with _warehouse(db, config) as wh:
        totals = wh.ingest(path).totals()
    return {
        "in": totals["rows_in"],
        "loaded": totals["rows_valid"],
        "quarantined": totals["rows_quarantined"],
        "duplicate": totals["rows_duplicate"],
    }


def quality(path: str, db: str, config: str) -> dict:
    with _warehouse(db, config) as wh:
        run = wh.refresh_quality()
    return {"events": run.events}


def payloads(path: str, db: str, config: str) -> dict:
    with _warehouse(db, config) as wh:
        built = wh.build_payloads(as_of=wh.replay_clock())
        ready = int(wh.payload_summary().filter(status="ready")["rows"].sum())
    return {"rows": sum(r.inserted for r in built), "ready": ready,
            "per_destination_s": {r.destination: round(r.seconds, 2) for r in built}}  # fmt: skip


def push(path: str, db: str, config: str) -> dict:
    with _warehouse(db, config) as wh:
        report = wh.push_to_emulator(as_of=wh.replay_clock(), delivery=PUSH_SETTINGS)
    sent = sum(d.delivered + d.rejected + d.failed for d in report.destinations)
    return {"rows_sent": sent, "failed": sum(d.failed for d in report.destinations),
            "requests": sum(d.requests for d in report.destinations)}  # fmt: skip


def funnel(path: str, db: str, config: str) -> dict:
    import trackstack_wh as tw

    with tw.connect(db, config=config, read_only=True) as wh:
        report = wh.funnel("week", by="channel")
    return {"people": int(report.table("totals")["people"].sum())}


def _records(path: str, batch: int = 10_000) -> Iterator[list[dict]]:
    """What a hand-written loader does: parse line by line, skip what does not parse."""
    rows: list[dict] = []
    with open(path, "rb") as f:
        for line in f:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                rows.append(record)
                if len(rows) == batch:
                    yield rows
                    rows = []
    if rows:
        yield rows


def dlt(path: str, pipelines_dir: str) -> dict:
    import dlt as dlt_lib

    pipeline = dlt_lib.pipeline(
        pipeline_name="bench",
        pipelines_dir=pipelines_dir,
        destination=dlt_lib.destinations.duckdb(f"{pipelines_dir}/dlt.duckdb"),
        dataset_name="raw",
    )
    info = pipeline.run(_records(path), table_name="events", write_disposition="append")
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select count(*) from events")[0][0]
    return {"rows": rows, "load_packages": len(info.loads_ids)}


META_NAMES = {"SignUp": "CompleteRegistration", "LeadCaptured": "Lead", "Purchase": "Purchase",
              "StartTrial": "StartTrial", "CheckoutStarted": "InitiateCheckout",
              "SubscriptionStarted": "Subscribe", "PageView": "PageView"}  # fmt: skip


def _epoch_seconds(ts: object) -> int:
    if isinstance(ts, (int, float)):
        return int(ts / 1000 if ts > 1e11 else ts)
    from datetime import datetime

    return int(datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp())


def meta_sdk_loop(path: str) -> dict:
    """Per event: flatten the shapes, build the SDK's UserData / CustomData / Event, and
    normalize (which normalizes and SHA-256-hashes the identifiers) into a request dict."""
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.user_data import UserData

    built = errors = 0
    for rows in _records(path):
        for raw in rows:
            e = {**raw, **raw.get("userData", {}), **raw.get("customData", {}),
                 **raw.get("event_data", {})}  # fmt: skip
            try:
                user = UserData(
                    email=e.get("email"), phone=e.get("phone"), first_name=e.get("firstName"),
                    last_name=e.get("lastName"), city=e.get("city"), state=e.get("state"),
                    zip_code=e.get("zip"), country_code=e.get("country"),
                    external_id=e.get("externalId") or e.get("userId"),
                    client_ip_address=e.get("clientIp"), client_user_agent=e.get("userAgent"),
                    fbc=e.get("fbc"), fbp=e.get("fbp"),
                )  # fmt: skip
                custom = CustomData(value=e.get("value"), currency=(e.get("currency") or "").lower()
                                    or None)  # fmt: skip
                name = e.get("event") or e.get("event_name")
                event = Event(event_name=META_NAMES.get(name, name),
                              event_time=_epoch_seconds(e.get("ts") or e.get("timestamp")),
                              event_id=e.get("eventId"), user_data=user, custom_data=custom,
                              event_source_url=e.get("pageUrl") or e.get("url"),
                              action_source=ActionSource.WEBSITE)  # fmt: skip
                json.dumps(event.normalize())
                built += 1
            except Exception:  # noqa: BLE001 - the SDK raises plain exceptions on bad values
                errors += 1
    return {"payloads": built, "refused": errors}


def meta_ours(path: str, db: str, config: str) -> dict:
    """What the SDK loop does, with this library, on a warehouse holding the ingested
    events: normalize and hash Meta's match keys (plus the plain address parts the
    payload tables read), the transactionId dedup, route to Meta and build its table."""
    import dataclasses

    import trackstack_wh as tw
    from trackstack_wh.dedup import build_destination_dedup
    from trackstack_wh.identity.rules import PLATFORMS
    from trackstack_wh.identity.sql import PLAIN_KEYS, build_identity
    from trackstack_wh.payloads.build import build_payloads

    with tw.connect(db, config=config) as wh:
        meta = {"meta": wh.config.destinations["meta"]}
        only_meta = dataclasses.replace(wh.config, destinations=meta)
        keys = frozenset(m.key for m in PLATFORMS["meta"].keys) | frozenset(PLAIN_KEYS)
        build_identity(wh.conn, wh.config.phone_region, keys=keys)
        build_destination_dedup(wh.conn)
        [built] = build_payloads(wh.conn, only_meta, as_of=wh.replay_clock())
    return {"rows": built.inserted}


STEPS: dict[str, Callable[..., dict]] = {
    f.__name__: f
    for f in (
        generate,
        warm,
        floor,
        ingest,
        quality,
        payloads,
        push,
        funnel,
        dlt,
        meta_sdk_loop,
        meta_ours,
    )
}

if __name__ == "__main__":
    started = time.perf_counter()
    result = STEPS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps({**result, "inner_s": round(time.perf_counter() - started, 2)}))
