"""Google: Data Manager ``events:ingest`` and the Google Ads API uploads."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

from .base import VERSION, Platform, _dig, _list_under
from .messages import Answer, Call, _json


class Google(Platform):
    """Google Data Manager ``events:ingest`` and Google Ads API uploads (section 2)."""

    name = "google_ads"
    batch_limits = {
        "ingest": 2000,
        "uploadClickConversions": 2000,
        "uploadConversionAdjustments": 2000,
    }
    METHODS = {
        "uploadClickConversions": "conversions",
        "uploadConversionAdjustments": "conversionAdjustments",
    }

    check_kinds = frozenset({"requestStatus", "listAccessibleCustomers"})

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method == "GET" and len(s) == 2 and VERSION.fullmatch(s[0]):
            checks = {"requestStatus:retrieve": "requestStatus",
                      "customers:listAccessibleCustomers": "listAccessibleCustomers"}  # fmt: skip
            return checks.get(s[1])
        if call.method != "POST" or not s or not VERSION.fullmatch(s[0]):
            return None
        if s[1:] == ["events:ingest"]:
            return "ingest"
        if len(s) == 3 and s[1] == "customers":
            method = s[2].partition(":")[2]
            return method if method in self.METHODS else None
        return None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        found = {"access_token": call.bearer()}
        if kind not in ("ingest", "requestStatus"):  # the Google Ads API needs one
            found["developer-token"] = call.header("developer-token") or None
        return found

    def whoami(self, call: Call) -> Answer:
        if call.segments()[1].startswith("requestStatus"):  # an unknown request ID
            message = f"Request {call.param('requestId')!r} was not found."
            return self.error(404, message, "NOT_FOUND")
        return _json(200, {"resourceNames": ["customers/1234567890"]})

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {"error": {"code": status, "message": message, "status": code or "INVALID_ARGUMENT"}}

    def auth_error(self, missing: str) -> Answer:
        doc = self.error_doc(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        )
        if missing == "developer-token":
            doc["error"]["message"] = "The developer token is not valid."
            doc["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {
                                "authenticationError": "DEVELOPER_TOKEN_PARAMETER_MISSING"
                            },
                            "message": "The developer token parameter is missing.",
                        }
                    ],
                }
            ]
        return _json(401, doc)

    def version_error(self, version: str) -> Answer:
        page = (
            "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title>"
            f"<p><b>404.</b> <ins>That's an error.</ins><p>The requested URL /{version}/... "
            "was not found on this server. <ins>That's all we know.</ins></html>"
        )
        return Answer(404, page.encode(), "text/html; charset=UTF-8")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "events" if kind == "ingest" else self.METHODS[kind])

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        if kind == "ingest":
            return _dig(element, "transactionId")
        if _dig(element, "orderId"):
            return element["orderId"]
        if kind == "uploadClickConversions":
            return (_dig(element, "gclid"), _dig(element, "conversionDateTime"))
        pair = _dig(element, "gclidDateTimePair") or {}
        return (_dig(pair, "gclid"), _dig(pair, "conversionDateTime"))

    def validate_only(self, kind: str, call: Call) -> bool:
        return bool(_dig(call.doc, "validateOnly"))

    def too_many(self, kind: str, count: int, limit: int) -> Answer:
        if kind == "ingest":
            return self.error(400, f"{count} events in one request; at most {limit} allowed")
        code = (
            "TOO_MANY_CONVERSIONS_IN_REQUEST"
            if kind == "uploadClickConversions"
            else "TOO_MANY_ADJUSTMENTS_IN_REQUEST"
        )
        doc = self.error_doc(400, "Request contains an invalid argument.", "INVALID_ARGUMENT")
        doc["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure",
                "errors": [
                    {
                        "errorCode": {"conversionUploadError": code},
                        "message": f"Upload fewer than {limit + 1} events in a single request.",
                    }
                ],
            }
        ]
        return _json(400, doc)

    def check(self, kind: str, call: Call, elements: list[Any]) -> Answer | None:
        if kind == "ingest":
            has_user_data = any(isinstance(e, dict) and e.get("userData") for e in elements)
            if has_user_data and not _dig(call.doc, "encoding"):
                return self.error(400, "encoding is required when userData is sent")
            return None
        if _dig(call.doc, "partialFailure") is not True:
            return self.error(400, "partial_failure must be true for this request")
        return None

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        if kind == "ingest":
            return _json(200, {"requestId": str(uuid.uuid4())}), [True] * len(elements)
        if self.validate_only(kind, call):
            return _json(200, {}), [True] * len(elements)
        if kind == "uploadClickConversions":
            fields = (
                "gclid",
                "gbraid",
                "wbraid",
                "conversionAction",
                "conversionDateTime",
                "userIdentifiers",
            )
        else:
            fields = (
                "conversionAction",
                "adjustmentDateTime",
                "adjustmentType",
                "orderId",
                "gclidDateTimePair",
            )
        results = [{f: e[f] for f in fields if isinstance(e, dict) and f in e} for e in elements]
        job_id = str(int(uuid.uuid4().int % 10**12))
        return _json(200, {"results": results, "jobId": job_id}), [True] * len(elements)
