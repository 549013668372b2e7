"""Hand-built people and an independent brute-force funnel in pure Python, for the
conversion funnel tests (``tests/test_conversion_funnel.py``)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

import trackstack_wh as tw

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
FOUR = ["PageView", "SignUp", "FirstAction", "Purchase"]
FIELDS = {
    "PageView": {"pageUrl": "https://x.example/"},
    "FirstAction": {"actionType": "import"},
    "Purchase": {"value": 5000, "currency": "USD"},
}


def hand_event(
    eid: str, event: str, day: int, hour: int = 10, **fields: object
) -> dict[str, object]:
    at = T0 + (day - 1) * DAY + dt.timedelta(hours=hour)
    extra = dict(FIELDS.get(event, {}))
    if event == "Purchase":
        extra["transactionId"] = f"t-{eid}"
    return {"eventId": eid, "event": event, "ts": at.isoformat(), **extra, **fields}


# Who is who (the answer stitching must find): person -> event IDs.
HAND_MADE = [
    # ann: an anonymous page view (session only), then signs up in that session
    hand_event("ann1", "PageView", 1, sessionId="s-ann"),
    hand_event(
        "ann2", "SignUp", 1, 11, sessionId="s-ann", externalId="u_ann", email="ann@a.example"
    ),
    hand_event("ann3", "FirstAction", 2, externalId="u_ann"),
    hand_event("ann4", "Purchase", 5, externalId="u_ann"),
    # ben: out of order (signs up before his only page view)
    hand_event("ben1", "SignUp", 1, 9, externalId="u_ben", email="ben@b.example"),
    hand_event("ben2", "PageView", 1, externalId="u_ben"),
    hand_event("ben3", "FirstAction", 3, externalId="u_ben"),
    # cat: repeats; her first action comes too late for either entry
    hand_event("cat1", "PageView", 1, externalId="u_cat"),
    hand_event("cat2", "PageView", 2, externalId="u_cat"),
    hand_event("cat3", "SignUp", 3, externalId="u_cat", email="cat@c.example"),
    hand_event("cat4", "SignUp", 4, externalId="u_cat", email="cat@c.example"),
    hand_event("cat5", "FirstAction", 20, externalId="u_cat"),
    hand_event("cat6", "Purchase", 21, externalId="u_cat"),
    # dan: signs up 15 days after his first page view, 6 after his second
    hand_event("dan1", "PageView", 1, externalId="u_dan"),
    hand_event("dan2", "PageView", 10, externalId="u_dan"),
    hand_event("dan3", "SignUp", 16, externalId="u_dan", email="dan@d.example"),
    hand_event("dan4", "FirstAction", 30, externalId="u_dan"),
    # eve: three steps at the same instant, logged out of order
    hand_event("eve1", "SignUp", 2, 12, externalId="u_eve", email="eve@e.example"),
    hand_event("eve2", "FirstAction", 2, 12, externalId="u_eve"),
    hand_event("eve3", "PageView", 2, 12, externalId="u_eve"),
    hand_event("eve4", "Purchase", 3, externalId="u_eve"),
    # fay: nobody (a session no one identified in)
    hand_event("fay1", "PageView", 1, sessionId="s-fay"),
    hand_event("fay2", "PageView", 2, sessionId="s-fay"),
    # gus: a page view with his email only, then signs up with email and user ID
    hand_event("gus1", "PageView", 3, email="Gus@G.example"),
    hand_event("gus2", "SignUp", 4, email="gus@g.example", externalId="u_gus"),
    hand_event("gus3", "FirstAction", 5, externalId="u_gus"),
    # hal: buys without ever entering the funnel
    hand_event("hal1", "Purchase", 1, externalId="u_hal"),
]
PERSON_OF = {e["eventId"]: f"u_{str(e['eventId'])[:3]}" for e in HAND_MADE}
PERSON_OF.update(fay1=None, fay2=None)  # type: ignore[dict-item]


@dataclass(frozen=True)
class Ev:
    eid: str
    name: str
    ts: dt.datetime
    seq: int
    value: float | None = None


Matcher = Callable[[Ev], bool]


def named(name: str) -> Matcher:
    return lambda e: e.name == name


def reference(
    people: dict[str, list[Ev]], steps: list[Matcher], window: dt.timedelta, order: str
) -> dict[str, int]:
    """Furthest step per person by brute force over every path (no ASOF, no greedy)."""
    return {p: reached for p, (reached, _) in reference_paths(people, steps, window, order).items()}


def reference_paths(
    people: dict[str, list[Ev]], steps: list[Matcher], window: dt.timedelta, order: str
) -> dict[str, tuple[int, dt.datetime]]:
    """Per person who reached step 1: the furthest step and when they entered (strict:
    the earliest entry reaching it; any order: from the earliest start reaching it, the
    first of the steps reached)."""
    every = [e for evs in people.values() for e in evs if any(m(e) for m in steps)]
    overlap = [any(steps[k](e) and any(steps[j](e) for j in range(k)) for e in every)
               for k in range(len(steps))]  # fmt: skip
    out = {}
    for person, evs in people.items():
        evs = [e for e in evs if any(m(e) for m in steps)]
        if order == "any":
            reached, entered = best_any(evs, steps, window)
        else:
            reached, entered = 0, None
            for entry in sorted(evs, key=lambda e: e.ts):
                if steps[0](entry):
                    depth = deepest([entry], evs, steps, window, overlap)
                    if depth > reached:
                        reached, entered = depth, entry.ts
        if reached:
            assert entered is not None
            out[person] = (reached, entered)
    return out


def deepest(
    path: list[Ev], evs: list[Ev], steps: list[Matcher], window: dt.timedelta, overlap: list[bool]
) -> int:
    k = len(path)
    if k == len(steps):
        return k
    latest = max((e.ts, e.seq) for e in path)
    best = k
    for e in evs:
        if e in path or not steps[k](e):
            continue
        if e.ts < path[-1].ts or e.ts > path[0].ts + window:
            continue
        if overlap[k] and (e.ts, e.seq) <= latest:
            continue
        best = max(best, deepest([*path, e], evs, steps, window, overlap))
    return best


def best_any(
    evs: list[Ev], steps: list[Matcher], window: dt.timedelta
) -> tuple[int, dt.datetime | None]:
    best: tuple[int, dt.datetime | None] = (0, None)
    for start in sorted(evs, key=lambda e: e.ts):
        span = [e for e in evs if start.ts <= e.ts <= start.ts + window]
        firsts: list[dt.datetime] = []
        while len(firsts) < len(steps):
            times = [e.ts for e in span if steps[len(firsts)](e)]
            if not times:
                break
            firsts.append(min(times))
        if len(firsts) > best[0]:
            best = (len(firsts), min(firsts))
    return best


def counts(reached: dict[str, int], n: int) -> list[int]:
    return [sum(1 for r in reached.values() if r >= k) for k in range(1, n + 1)]


def hand_people(wh: tw.Warehouse) -> dict[str, list[Ev]]:
    seqs = dict(wh.sql("select event_id, event_seq from events").iter_rows())
    people: dict[str, list[Ev]] = {}
    for e in HAND_MADE:
        person = PERSON_OF[str(e["eventId"])]
        if person is not None:
            ev = Ev(str(e["eventId"]), str(e["event"]), dt.datetime.fromisoformat(str(e["ts"])),
                    seqs[e["eventId"]])  # fmt: skip
            people.setdefault(person, []).append(ev)
    return people


NAMES = ["PageView", "DemoBooked", "SignUp", "FirstAction", "Purchase"]


def generate(seed: int, n_people: int, max_events: int, days: int) -> dict[str, list[dict]]:
    """Per person: events with hour-granular times (many ties), some anonymous (session
    only); a person with no identified event is nobody."""
    rng = random.Random(seed)
    people = {}
    for p in range(n_people):
        events = []
        for _ in range(rng.randint(1, max_events)):
            name = rng.choice(NAMES)
            events.append({
                "name": name,
                "ts": T0 + dt.timedelta(hours=rng.randrange(days * 24)),
                "identified": rng.random() < 0.7,
                "value": float(rng.choice([50, 150, 900])) if name == "Purchase" else None,
            })  # fmt: skip
        people[f"p{p:03d}"] = events
    return people


def load(wh: tw.Warehouse, people: dict[str, list[dict]]) -> dict[str, list[Ev]]:
    """Replace the warehouse's events by the generated ones; returns the people the
    reference sees (identified somewhere), with their events."""
    stages = dict(wh.sql("select event_name, stage from canonical_events").iter_rows())
    rows, out, seq = [], {}, 0
    for person, events in people.items():
        known = any(e["identified"] for e in events)
        for i, e in enumerate(events):
            seq += 1
            eid = f"{person}-{i}"
            rows.append({
                "event_id": eid, "event_name": e["name"], "stage": stages[e["name"]],
                "is_canonical": True, "ts": e["ts"], "event_date": e["ts"].date(),
                "received_at": e["ts"], "batch_id": "gen", "line_no": seq, "event_seq": seq,
                "external_id": person if e["identified"] else None,
                "session_id": f"s-{person}", "value": e["value"],
            })  # fmt: skip
            if known:
                out.setdefault(person, []).append(Ev(eid, e["name"], e["ts"], seq, e["value"]))
    frame = pl.DataFrame(rows)
    wh.conn.execute("delete from events")
    wh.conn.register("generated", frame.to_arrow())
    try:
        wh.conn.execute(
            "insert into events by name select *, 'flat' as input_shape, false as ts_inferred, "
            "false as event_id_generated, []::varchar[] as warnings from generated"
        )
    finally:
        wh.conn.unregister("generated")
    return out
