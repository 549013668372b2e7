"""An independent stand-in for the ad platforms' and CRMs' HTTP APIs, for delivery tests.

Written from the platforms' documentation, not from ``trackstack_lab.emulator`` (it
imports nothing from ``trackstack_wh``), so a test against it checks delivery as a
user's real endpoint, proxy or load balancer would answer. A stdlib
``ThreadingHTTPServer`` on 127.0.0.1 serves every destination under
``{base_url}/{destination}``; the project appends each platform's own path.

Answering one request, in this order (``n`` is the destination's request number,
counted from 1 by every request that arrives, whatever it is answered):

1. ``delay`` sleeps first; it never decides the answer, so it combines with the rest.
2. ``drop`` (while it has times left) closes the connection without an answer; with
   ``after_processing`` the platform handles the request first (its elements count as
   received), as when an answer is lost on the way back.
3. ``every`` faults whose ``n`` divides the request number; the first one set wins
   (destination faults before faults for all destinations).
4. ``always`` / ``echo_credential``: the one set last wins (destination first).
5. The platform: unknown path (404), refused API version, body that is not JSON (400),
   missing credential (401 in the platform's shape; Meta answers 400 with a Graph
   ``OAuthException``, TikTok HTTP 200 with a non-zero ``code``), Salesforce daily
   limit (403 ``REQUEST_LIMIT_EXCEEDED``), body not in the documented envelope, batch
   over the documented limit or another documented refusal (400), else the documented
   success (per-row errors inside it where the platform reports rows).

Credential checks (each platform's cheap authenticated read: Meta ``GET
/{version}/{pixel_id}``, Google ``requestStatus:retrieve`` and
``customers:listAccessibleCustomers``, LinkedIn ``GET /rest/adAccountUsers``, TikTok
``GET /open_api/{version}/user/info/``, Snapchat ``GET /v1/me``, Reddit ``GET
/api/v3/me``, HubSpot ``GET /account-info/v3/details``, Salesforce ``GET .../limits``)
skip steps 1-4 and take no request number: they are recorded, answered 401 in the
platform's shape without a credential, else with the documented body.

Elements count as received when the answer was a success (2xx, and TikTok ``code`` 0)
and the request was not validate-only (Google ``validateOnly``, Snapchat ``/validate``);
a fault answered with 2xx counts too (the request reached the platform, the answer was
mangled on the way back); a 429/5xx fault does not. Salesforce answers every request
with ``Sforce-Limit-Info: api-usage=N/M``; N counts every answered Salesforce request
(faults included, drops without processing not) plus ``salesforce_usage``.

Modules: ``server`` (``Receiver``, its records, fault configuration and the HTTP
server), ``answering`` (the order above), ``faults``, ``messages`` (requests, answers,
records), ``base`` (the ``Platform`` class), ``ads``, ``google`` and ``crm`` (the
platforms).
"""

from __future__ import annotations

from .ads import LinkedIn, Meta, Reddit, Snapchat, TikTok
from .base import VERSION, Platform
from .crm import SALESFORCE_BATCH, SOBJECT_PREFIX, HubSpot, Salesforce
from .faults import ALL, Always, Delay, Drop, EchoCredential, Every, Fault, echo_forms
from .google import Google
from .messages import JSON, Answer, Call, RecordedRequest
from .server import DESTINATIONS, PLATFORMS, Receiver

__all__ = [
    "ALL",
    "DESTINATIONS",
    "JSON",
    "PLATFORMS",
    "SALESFORCE_BATCH",
    "SOBJECT_PREFIX",
    "VERSION",
    "Always",
    "Answer",
    "Call",
    "Delay",
    "Drop",
    "EchoCredential",
    "Every",
    "Fault",
    "Google",
    "HubSpot",
    "LinkedIn",
    "Meta",
    "Platform",
    "Receiver",
    "RecordedRequest",
    "Reddit",
    "Salesforce",
    "Snapchat",
    "TikTok",
    "echo_forms",
]
