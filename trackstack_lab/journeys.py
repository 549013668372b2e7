"""A journey corpus: the path match-key stitching exists for.

Each person lands anonymously from an ad (``fbclid``, ``gclid`` and ``ttclid`` only in the
landing page's URL), signs up with their email in the same browser session a few minutes
later, and buys a day later through a server-side call that carries only their
``externalId``. Variants:

- ``identify``: the sign-up carries no ``externalId``; an ``identify(userId, traits)``
  record in the session links the email to the user ID;
- ``shared``: two people sign up on the same device (one session) after one anonymous ad
  landing; the session is ambiguous, so neither purchase may take its click IDs;
- ``denied``: the sign-up denies ad use (``consent.ad_user_data = denied``); nothing may be
  stitched into that person's purchase.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

VARIANTS = ("direct", "identify", "shared", "denied")


@dataclass(frozen=True)
class Journey:
    """What one person's purchase should carry after stitching."""

    person: str
    variant: str
    purchase_id: str
    email: str
    user_agent: str
    landing_id: str
    signup_id: str
    fbc: str
    gclid: str
    ttclid: str


def _line(**fields: object) -> str:
    return json.dumps(fields, separators=(",", ":"))


def journeys(
    people: int, start: dt.datetime, *, shared_every: int = 10, denied_every: int = 25
) -> tuple[list[str], list[Journey]]:
    """NDJSON lines (events and identify records) for ``people`` people starting at
    ``start`` (one person every 37 s), and each purchase's expectations. Every
    ``shared_every``-th person shares a device with the next one; every
    ``denied_every``-th denies ad use at sign-up; every third of the rest identifies."""
    lines: list[str] = []
    expected: list[Journey] = []
    i = 0
    while i < people:
        landed = start + dt.timedelta(seconds=37 * i)
        shared = shared_every and i % shared_every == 0 and i + 1 < people
        persons = [i, i + 1] if shared else [i]
        session = f"sess_{i}"
        landing_id = f"land_{i}"
        url = (
            f"https://www.example.com/pricing?utm_source=ads&fbclid=FB{i}&gclid=GC{i}&ttclid=TT{i}"
        )
        agent = f"Mozilla/5.0 (journey {i})"
        lines.append(
            _line(event="PageView", eventId=landing_id, ts=landed.isoformat(), sessionId=session,
                  pageUrl=url, userAgent=agent, clientIp=f"198.51.100.{i % 250}")
        )  # fmt: skip
        for n, p in enumerate(persons):
            variant = (
                "shared" if shared
                else "denied" if denied_every and p % denied_every == 0
                else "identify" if p % 3 == 1
                else "direct"
            )  # fmt: skip
            email, user = f"Person.{p}@Example.com", f"user_{p}"
            signed = landed + dt.timedelta(minutes=5 + n)
            signup_id, purchase_id = f"signup_{p}", f"purchase_{p}"
            signup: dict[str, object] = {
                "event": "SignUp", "eventId": signup_id, "ts": signed.isoformat(),
                "sessionId": session, "email": f"  {email} ", "userAgent": agent,
                "clientIp": f"198.51.100.{i % 250}", "pageUrl": "https://www.example.com/signup",
            }  # fmt: skip
            if variant != "identify":
                signup["externalId"] = user
            if variant == "denied":
                signup["consent"] = {"ad_user_data": "denied"}
            lines.append(_line(**signup))
            if variant == "identify":
                lines.append(
                    _line(type="identify", userId=user, sessionId=session,
                          ts=(signed + dt.timedelta(seconds=20)).isoformat(),
                          traits={"email": email, "firstName": f"Person{p}"})
                )  # fmt: skip
            lines.append(
                _line(event="Purchase", eventId=purchase_id, externalId=user, value=4900,
                      currency="USD", transactionId=f"txn_{p}",
                      ts=(signed + dt.timedelta(days=1)).isoformat())
            )  # fmt: skip
            landing_ms = int(landed.timestamp() * 1000)
            expected.append(
                Journey(user, variant, purchase_id, email.lower(), agent, landing_id, signup_id,
                        f"fb.1.{landing_ms}.FB{i}", f"GC{i}", f"TT{i}")
            )  # fmt: skip
        i += len(persons)
    return lines, expected
