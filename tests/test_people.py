"""The person graph and the keys stitched across it, kept up to date batch by batch,
equal what a rebuild from scratch gives: rows of a few people who now and then share an
email or a session (so emails gain user IDs and become ambiguous, sessions gain a person
and become shared), answer consent both ways, click ads, and arrive late; identify
records come and go."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import event_line, write_lines
from tests.test_payloads import CONFIG
from trackstack_wh.config import parse_config

START = dt.datetime(2026, 10, 25, tzinfo=dt.UTC)
TABLES = {
    "person_rows": "row_kind, row_id",
    "people_email_uids": "email, uid",
    "people_device_persons": "device, person",
    "event_stitch": "event_id",
}


def _line(rng: random.Random, batch: int, i: int) -> str:
    """A row of person ``n``: user ID, email and session each often missing, and now and
    then another person's email or session (a shared inbox or device)."""
    at = START + dt.timedelta(minutes=rng.randint(0, 3 * 24 * 60))
    n = rng.randint(0, 7)
    other = rng.randint(0, 7)
    uid = f"u{n}" if rng.random() < 0.25 else None
    email = rng.choice([None, None, f" P{n}@Acme.example", f"p{n}@acme.example"])
    session = rng.choice([None, f"s{n}-{rng.randint(0, 3)}"])
    if rng.random() < 0.08:
        email = f"p{other}@acme.example"
    if rng.random() < 0.08:
        session = f"s{other}-0"
    if rng.random() < 0.2:
        traits = {"email": email} if email else {"plan": "pro"}
        record = {"type": "identify", "userId": uid or "u9", "traits": traits,
                  "anonymousId": session, "ts": at.isoformat()}  # fmt: skip
        return json.dumps({k: v for k, v in record.items() if v is not None})
    fields = {"userId": uid, "email": email, "sessionId": session}
    if rng.random() < 0.5:
        fields |= {"userAgent": f"agent {n}", "clientIp": f"198.51.100.{n}"}
    if rng.random() < 0.2:
        fields["phone"] = f"+1 415 555 01{n:02d}"
    if rng.random() < 0.25:
        fields["pageUrl"] = f"https://www.example.com/?fbclid=F{batch}{i}&gclid=G{batch}{i}"
    answer = rng.choice([*[None] * 8, "denied", "granted"])
    kept = {k: v for k, v in fields.items() if v is not None}
    if answer:
        kept["consent"] = {"ad_user_data": answer}
    name = rng.choice(["PageView", "PageView", "LeadCaptured", "Purchase"])
    extra = {"value": 10, "currency": "USD", "transactionId": f"t{batch}-{i}"}
    extra = extra if name == "Purchase" else {}
    return event_line(name, f"e{batch}-{i}", at, **kept, **extra)


def _state(wh: tw.Warehouse) -> dict[str, list[tuple[object, ...]]]:
    return {t: wh.sql(f"select * from {t} order by {k}").rows() for t, k in TABLES.items()}


@pytest.mark.parametrize(("seed", "attribution"), [(4, "last"), (5, "last"), (6, "first")])
def test_the_person_graph_kept_up_to_date_equals_a_rebuild(
    tmp_path: Path, seed: int, attribution: str
) -> None:
    rng = random.Random(seed)
    stitching = {"events": ["Purchase", "LeadCaptured"], "click_attribution": attribution}
    config = parse_config({**CONFIG, "stitching": stitching})
    with tw.connect(tmp_path / "people.duckdb", config=config) as wh:
        for batch in range(12):
            lines = [_line(rng, batch, i) for i in range(rng.randint(4, 12))]
            wh.ingest(write_lines(tmp_path / f"b{batch}.ndjson", lines))
            if batch == 6:  # an identify-only load undone
                gone = wh.sql("select min(identify_id) as i from identities").item()
                wh.conn.execute("delete from identities where identify_id = ?", [gone])
            assert wh.refresh_quality().mode == ("full" if batch == 0 else "incremental")
            kept = _state(wh)
            wh.refresh_quality(force=True)
            assert _state(wh) == kept, f"batch {batch}"
        linked = wh.sql("select count(distinct linked_by) from person_rows").item()
        assert linked >= 4, "the pools should exercise user IDs, links, emails and sessions"
        stitched = wh.sql("select count(*) from event_stitch").item()
        assert stitched >= 5, "purchases and leads should borrow keys"
