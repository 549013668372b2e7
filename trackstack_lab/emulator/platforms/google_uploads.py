"""Google Ads API uploads: ``customers/{cid}:uploadClickConversions`` and
``:uploadConversionAdjustments`` (Bearer and ``developer-token`` headers).

``partialFailure`` must be true: good rows are recorded and echoed in ``results``, bad
rows get ``{}`` and a ``GoogleAdsFailure`` error located by row index in
``partialFailureError``. ``validateOnly`` records nothing and answers ``{}`` per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trackstack_lab.emulator import identity, privacy
from trackstack_lab.emulator.checks import (
    DAY,
    FUTURE_SKEW,
    INJECTED,
    Problem,
    Sink,
    age_problem,
    is_number,
    is_text,
    load_json,
    new_uuid,
    parse_google_datetime,
    scan,
    take_digest,
)
from trackstack_lab.emulator.platforms.google_rpc import auth_problem, bad_request, rpc_error
from trackstack_lab.emulator.privacy import GOOGLE_ADS_CONSENT
from trackstack_lab.emulator.wire import Call, Handler, Reply

MAX_ROWS = 2000
MAX_AGE = 90 * DAY
MAX_IDENTIFIERS = 5
ACTION = re.compile(r"customers/(\d+)/conversionActions/\d+")
ADJUSTMENT_TYPES = frozenset({"ENHANCEMENT", "RESTATEMENT", "RETRACTION"})
HASHED_ADDRESS = ("hashedFirstName", "hashedLastName", "hashedStreetAddress")
_PATH_PART = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")

RowCheck = Callable[[Any, float, Sink, str], Problem | None]


@dataclass(frozen=True)
class UploadKind:
    """What differs between the two upload services."""

    collection: str
    field: str
    error_key: str
    too_many: str
    check: RowCheck
    echo: tuple[str, ...]
    identity: Callable[[dict[str, Any]], str]
    injected: Problem


def _action_problem(row: dict[str, Any], customer: str) -> Problem | None:
    action = row.get("conversionAction")
    matched = ACTION.fullmatch(action) if type(action) is str else None
    if matched is None or matched.group(1) != customer:
        return Problem(
            "conversion_action",
            f"No conversion action found for customer {customer}.",
            "NO_CONVERSION_ACTION_FOUND",
        )
    return None


def _time_problem(value: Any, now: float, name: str, expired: str, invalid: str) -> Problem | None:
    at = parse_google_datetime(value)
    if at is None:
        message = "must be a date-time as 'yyyy-mm-dd hh:mm:ss+|-hh:mm'"
        return Problem(name, message, invalid)
    bad = age_problem(at, now, MAX_AGE, FUTURE_SKEW)
    if bad is None:
        return None
    if bad[0] == "too_old":
        return Problem(
            name, f"The conversion {bad[1]} (outside the click-through window).", expired
        )
    return Problem(name, f"The date-time {bad[1]}.", invalid)


def _identifiers_problem(
    idents: Any, allowed: tuple[str, ...], invalid: str, unsupported: str, sink: Sink
) -> Problem | None:
    if type(idents) is not list or len(idents) > MAX_IDENTIFIERS:
        message = f"must be a list of at most {MAX_IDENTIFIERS} identifiers"
        return Problem("user_identifiers", message, invalid)
    for j, ident in enumerate(idents):
        keys = [k for k in ident if k != "userIdentifierSource"] if type(ident) is dict else []
        if len(keys) != 1 or keys[0] not in allowed:
            message = f"must set exactly one of {', '.join(allowed)}"
            return Problem(f"user_identifiers[{j}]", message, unsupported)
        key, value = keys[0], ident[keys[0]]
        if key == "addressInfo":
            if type(value) is not dict or not all(
                take_digest(value[k], sink) for k in HASHED_ADDRESS if k in value
            ):
                field = f"user_identifiers[{j}].address_info"
                return Problem(field, "names must be SHA-256 hashes as lowercase hex", invalid)
        elif not take_digest(value, sink):
            name = "hashed_email" if key == "hashedEmail" else "hashed_phone_number"
            message = "must be a SHA-256 hash as lowercase hex"
            return Problem(f"user_identifiers[{j}].{name}", message, invalid)
    return None


def check_click_conversion(row: Any, now: float, sink: Sink, customer: str) -> Problem | None:
    """The first problem of one ClickConversion, if any."""
    invalid = "INVALID_USER_IDENTIFIER"
    if type(row) is not dict:
        return Problem("", "each conversion must be an object", invalid)
    problem = _action_problem(row, customer) or _time_problem(
        row.get("conversionDateTime"),
        now,
        "conversion_date_time",
        "EXPIRED_EVENT",
        "INVALID_CONVERSION_DATE_TIME",
    )
    if problem is not None:
        return problem
    clicks = [k for k in ("gclid", "gbraid", "wbraid") if k in row]
    if "gbraid" in clicks and "wbraid" in clicks:
        return Problem("wbraid", "gbraid and wbraid cannot both be set.", "GBRAID_WBRAID_BOTH_SET")
    for key in clicks:
        if not is_text(row[key]):
            return Problem(key, f"The {key} could not be parsed.", f"UNPARSEABLE_{key.upper()}")
    idents = row.get("userIdentifiers")
    if idents is not None:
        allowed = ("hashedEmail", "hashedPhoneNumber")
        problem = _identifiers_problem(
            idents, allowed, invalid, "UNSUPPORTED_USER_IDENTIFIER", sink
        )
        if problem is not None:
            return problem
    if not clicks and not idents:
        return Problem("", "A click ID or user identifiers are required.", invalid)
    if "conversionValue" in row and not is_number(row["conversionValue"]):
        return Problem("conversion_value", "must be a number", "INVALID_CONVERSION_VALUE")
    if "orderId" in row and not is_text(row["orderId"]):
        return Problem("order_id", "must be a non-empty string", "INVALID_ORDER_ID")
    bad_consent = privacy.google_consent_problem(
        row.get("consent"), GOOGLE_ADS_CONSENT, privacy.CLICK_CONVERSION_CONSENT_KEYS
    )
    if bad_consent is not None:
        return Problem("consent", bad_consent, "INVALID_CONSENT")
    return None


def check_adjustment(row: Any, now: float, sink: Sink, customer: str) -> Problem | None:
    """The first problem of one ConversionAdjustment, if any."""
    if type(row) is not dict:
        return Problem("", "each adjustment must be an object", "INVALID_ADJUSTMENT")
    kind = row.get("adjustmentType")
    if kind not in ADJUSTMENT_TYPES:
        types = ", ".join(sorted(ADJUSTMENT_TYPES))
        return Problem("adjustment_type", f"must be one of {types}", "INVALID_ADJUSTMENT_TYPE")
    problem = _action_problem(row, customer) or _time_problem(
        row.get("adjustmentDateTime"),
        now,
        "adjustment_date_time",
        "CONVERSION_EXPIRED",
        "INVALID_ADJUSTMENT_DATE_TIME",
    )
    if problem is not None:
        return problem
    has_order, pair = "orderId" in row, row.get("gclidDateTimePair")
    if has_order and pair is not None:
        message = "Set either order_id or gclid_date_time_pair, not both."
        return Problem("order_id", message, "GCLID_DATE_TIME_PAIR_AND_ORDER_ID_BOTH_SET")
    if has_order and not is_text(row["orderId"]):
        return Problem("order_id", "must be a non-empty string", "CONVERSION_NOT_FOUND")
    if not has_order:
        if type(pair) is not dict or not is_text(pair.get("gclid")):
            message = "order_id or gclid_date_time_pair is required."
            return Problem("order_id", message, "CONVERSION_NOT_FOUND")
        if parse_google_datetime(pair.get("conversionDateTime")) is None:
            message = "must be a date-time as 'yyyy-mm-dd hh:mm:ss+|-hh:mm'"
            field = "gclid_date_time_pair.conversion_date_time"
            return Problem(field, message, "INVALID_ADJUSTMENT_DATE_TIME")
    if kind == "RESTATEMENT":
        value = row.get("restatementValue")
        if type(value) is not dict or not is_number(value.get("adjustedValue")):
            message = "A restatement needs restatement_value.adjusted_value."
            return Problem("restatement_value", message, "RESTATEMENT_VALUE_MISSING")
    allowed = ("hashedEmail", "hashedPhoneNumber", "addressInfo")
    idents = row.get("userIdentifiers")
    if kind == "ENHANCEMENT" and (not has_order or not idents):
        message = "An enhancement needs order_id and user identifiers."
        return Problem("user_identifiers", message, "MISSING_ORDER_ID_FOR_WEBPAGE")
    if idents is not None:
        return _identifiers_problem(
            idents, allowed, "INVALID_USER_IDENTIFIER", "UNSUPPORTED_USER_IDENTIFIER", sink
        )
    return None


def _path_elements(field: str) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    for part in field.split(".") if field else ():
        matched = _PATH_PART.fullmatch(part)
        if matched is None or matched.group(2) is None:
            elements.append({"fieldName": part})
        else:
            elements.append({"fieldName": matched.group(1), "index": int(matched.group(2))})
    return elements


def _failure_type(version: str) -> str:
    return f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure"


def _failure(version: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@type": _failure_type(version), "errors": errors, "requestId": new_uuid()}


def _row_error(kind: UploadKind, index: int, problem: Problem) -> dict[str, Any]:
    path = [{"fieldName": kind.field, "index": index}, *_path_elements(problem.field)]
    return {
        "errorCode": {kind.error_key: problem.code},
        "message": problem.message,
        "location": {"fieldPathElements": path},
    }


def _request_error(version: str, code: dict[str, str], message: str, rejected: int) -> Reply:
    details = [_failure(version, [{"errorCode": code, "message": message}])]
    return rpc_error(400, "Request contains an invalid argument.", details, rejected)


def upload_handler(kind: UploadKind) -> Handler:
    """The handler of one upload service."""

    def handle(call: Call) -> Reply:
        denied = auth_problem(call, developer_token=True)
        if denied is not None:
            return denied
        version, customer = call.match["version"], call.match["cid"]
        try:
            body = load_json(call.body)
        except ValueError:
            return bad_request([("", "Invalid JSON payload received.")])
        rows = body.get(kind.collection) if type(body) is dict else None
        if type(rows) is not list or not rows:
            return bad_request([(kind.field, "At least one row is required.")])
        if len(rows) > MAX_ROWS:
            message = f"Upload fewer than {MAX_ROWS + 1} rows in a single request."
            return _request_error(version, {kind.error_key: kind.too_many}, message, len(rows))
        if body.get("partialFailure") is not True:
            code = {"partialFailureError": "PARTIAL_FAILURE_MODE_REQUIRED"}
            message = "The partial_failure field must be set to true."
            return _request_error(version, code, message, len(rows))

        def check(row: Any, now: float, sink: Sink) -> Problem | None:
            return kind.check(row, now, sink, customer)

        bad = dict(scan(rows, check, call.now, call.reject, kind.injected))
        validate_only = body.get("validateOnly") is True
        results: list[dict[str, Any]] = []
        good: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if i in bad or validate_only:
                results.append({})
            else:
                results.append({k: row[k] for k in kind.echo if k in row})
                good.append(row)
        if good:
            call.state.record([kind.identity(r) for r in good])
        answer: dict[str, Any] = {"results": results}
        if bad:
            errors = [_row_error(kind, i, p) for i, p in bad.items()]
            message = "; ".join(
                f"{p.message}, at {kind.field}[{i}]" + (f".{p.field}" if p.field else "")
                for i, p in bad.items()
            )
            answer["partialFailureError"] = {
                "code": 3,
                "message": message,
                "details": [_failure(version, errors)],
            }
        return Reply(200, answer, rejected_events=len(bad))

    return handle


CLICK_CONVERSIONS = UploadKind(
    collection="conversions",
    field="conversions",
    error_key="conversionUploadError",
    too_many="TOO_MANY_CONVERSIONS_IN_REQUEST",
    check=check_click_conversion,
    echo=("gclid", "gbraid", "wbraid", "conversionAction", "conversionDateTime", "userIdentifiers"),
    identity=identity.click_conversion,
    injected=Problem("", INJECTED, "CLICK_NOT_FOUND"),
)
ADJUSTMENTS = UploadKind(
    collection="conversionAdjustments",
    field="conversion_adjustments",
    error_key="conversionAdjustmentUploadError",
    too_many="TOO_MANY_ADJUSTMENTS_IN_REQUEST",
    check=check_adjustment,
    echo=(
        "adjustmentType",
        "conversionAction",
        "adjustmentDateTime",
        "orderId",
        "gclidDateTimePair",
    ),
    identity=identity.conversion_adjustment,
    injected=Problem("", INJECTED, "CONVERSION_NOT_FOUND"),
)
handle_click_conversions = upload_handler(CLICK_CONVERSIONS)
handle_adjustments = upload_handler(ADJUSTMENTS)
