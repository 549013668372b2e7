"""Event validation with pandera's polars backend, the schema generated from the contract.

Every check is named after the quarantine reason it produces (``unknown_event``,
``missing_required:email``...), so a failure case maps straight to a machine-readable
reason. Validation runs on whole chunks (tens of thousands of rows), never per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache

import pandera.polars as pa
import polars as pl

from trackstack_wh.contract import (
    CURRENCY_CODES,
    EVENTS_BY_NAME,
    EXTENSION_NAME_PATTERN,
    FIELDS_BY_NAME,
    Family,
    Kind,
    events_in_family,
)
from trackstack_wh.contract.patterns import EMAIL_PATTERN, SHA256_HEX_PATTERN

EARLIEST_TS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
PYTHON_MIN_TS = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
PYTHON_MAX_TS = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)

REQUIRED_BY_FAMILY: dict[Family, tuple[tuple[str, ...], ...]] = {
    Family.LEAD: (("email",),),
    Family.SIGNUP: (("email",),),
    Family.START_TRIAL: (("plan",),),
    Family.FIRST_ACTION: (("actionType",),),
    Family.CONTENT: (("contentType",),),
    Family.PURCHASE: (("value",), ("currency",), ("transactionId",)),
    Family.REFUND: (("refundId", "transactionId"), ("value",), ("currency",)),
}
"""Required fields per family (seed 003); a tuple of several names means any one of them."""

RECOMMENDED_BY_FAMILY: dict[Family, tuple[str, ...]] = {Family.PAGE_VIEW: ("pageUrl",)}

EMAIL_REQUIRED_EVENTS = frozenset(events_in_family(Family.LEAD) + events_in_family(Family.SIGNUP))


def _present(name: str) -> pl.Expr:
    """The field has a value; text that is only whitespace counts as missing."""
    field = FIELDS_BY_NAME[name]
    col = pl.col(field.column)
    if field.kind is not Kind.STRING:
        return col.is_not_null()
    return col.is_not_null() & (col.str.strip_chars() != "")


def plausible_email(col: pl.Expr) -> pl.Expr:
    """True when the email looks like name@domain.tld or is already a SHA-256 hex."""
    trimmed = col.str.strip_chars()
    return trimmed.str.contains(EMAIL_PATTERN) | trimmed.str.contains(SHA256_HEX_PATTERN)


def _check(name: str, passes: Callable[[], pl.Expr], description: str) -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(passes()), name=name, description=description
    )


def _family_checks() -> list[pa.Check]:
    checks = []
    for family, groups in REQUIRED_BY_FAMILY.items():
        events = list(events_in_family(family))
        for group in groups:
            reason = "missing_required:" + "_or_".join(group)

            def passes(events: list[str] = events, group: tuple[str, ...] = group) -> pl.Expr:
                present = pl.any_horizontal([_present(n) for n in group])
                return ~pl.col("event_name").is_in(events) | present

            checks.append(
                _check(reason, passes, f"{'/'.join(events)} require {' or '.join(group)}")
            )
    return checks


@cache
def event_schema() -> pa.DataFrameSchema:
    """The pandera schema for the validated columns of a chunk of events."""
    canonical = list(EVENTS_BY_NAME)
    ts_type = pl.Datetime("us", "UTC")
    return pa.DataFrameSchema(
        {
            "line_no": pa.Column(pl.Int64, unique=True),
            "event_name": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    _check(
                        "missing_required:event",
                        lambda: pl.col("event_name").is_not_null(),
                        "every record needs an event name",
                    ),
                    _check(
                        "unknown_event",
                        lambda: (
                            pl.col("event_name").is_null()
                            | pl.col("event_name").is_in(canonical)
                            | pl.col("event_name").str.contains(EXTENSION_NAME_PATTERN)
                        ),
                        "event must be canonical or PascalCase",
                    ),
                ],
            ),
            "event_id": pa.Column(pl.String),
            "ts": pa.Column(ts_type, nullable=True),
            "received_at": pa.Column(ts_type),
            "email": pa.Column(pl.String, nullable=True),
            "value": pa.Column(
                pl.Float64,
                nullable=True,
                checks=[
                    _check(
                        "negative_value",
                        lambda: pl.col("value").is_null() | (pl.col("value") >= 0),
                        "value must be non-negative",
                    ),
                ],
            ),
            "currency": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    _check(
                        "invalid_currency",
                        lambda: (
                            pl.col("currency").is_null()
                            | pl.col("currency")
                            .str.strip_chars()
                            .str.to_uppercase()
                            .is_in(sorted(CURRENCY_CODES))
                        ),
                        "currency must be ISO-4217",
                    ),
                ],
            ),
            "type_errors": pa.Column(
                pl.List(pl.String),
                checks=[
                    _check(
                        "invalid_type",
                        lambda: pl.col("type_errors").list.len() == 0,
                        "fields must have their contract type",
                    ),
                ],
            ),
        },
        checks=[
            _check(
                "ts_out_of_range",
                lambda: (
                    pl.col("ts").is_null()
                    | pl.col("ts").is_between(
                        pl.lit(EARLIEST_TS), pl.col("received_at") + pl.lit(MAX_FUTURE)
                    )
                ),
                "ts must be after 2000 and at most a day in the future",
            ),
            _check(
                "invalid_email",
                lambda: (
                    ~pl.col("event_name").is_in(list(EMAIL_REQUIRED_EVENTS))
                    | pl.col("email").is_null()
                    | plausible_email(pl.col("email"))
                ),
                "events that require an email need a plausible one",
            ),
            *_family_checks(),
        ],
        name="events",
    )


def validate_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Validate a chunk; returns one row per failing line: ``line_no, reasons`` (list).

    Reasons keep the schema's check order; ``invalid_type`` is expanded per field.
    Timestamps outside Python's years 1-9999 (``ts: 0``-style input) are clamped for the
    check only, so they fail ``ts_out_of_range`` like any other instead of breaking it.
    """
    clamped = frame.with_columns(pl.col("ts").clip(PYTHON_MIN_TS, PYTHON_MAX_TS))
    try:
        event_schema().validate(clamped, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures: pl.DataFrame = exc.failure_cases
    else:
        return pl.DataFrame(schema={"line_no": pl.Int64, "reasons": pl.List(pl.String)})
    if failures["index"].null_count():
        raise RuntimeError(f"schema-level validation failure (a bug, not bad input): {failures}")
    order = {name: i for i, name in enumerate(_check_order())}
    rows = frame.select("line_no", "type_errors").with_row_index("index")
    return (
        failures.select(pl.col("index").cast(pl.UInt32), "check")
        .with_columns(rank=pl.col("check").replace_strict(order, default=len(order)))
        .join(rows, on="index")
        .with_columns(
            reason=pl.when(pl.col("check") == "invalid_type")
            .then(pl.col("type_errors").list.eval("invalid_type:" + pl.element()))
            .otherwise(pl.concat_list(pl.col("check")))
        )
        .explode("reason")
        .sort("line_no", "rank")
        .group_by("line_no", maintain_order=True)
        .agg(reasons=pl.col("reason").unique(maintain_order=True))
    )


@cache
def _check_order() -> list[str]:
    schema = event_schema()
    names = [c.name for col in schema.columns.values() for c in col.checks]
    return names + [c.name for c in schema.checks]
