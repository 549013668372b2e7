"""Build JSON text in SQL, leaving out absent fields.

Platforms want a field either present with a value or not there at all (never
``"fbc": null``). `obj` renders ``{"k": v, ...}`` from its non-NULL members; an object
with no members is NULL, so it vanishes from its parent too. Keys are
constants from this package, or a bound ``$parameter`` for names taken from the config;
values are SQL expressions over the event row. Nothing from the data is formatted into
the SQL text.
"""

from __future__ import annotations

import json

from trackstack_wh.sql import lit

Member = tuple[str, str | None]
"""(key, SQL expression of the member's JSON text or NULL); a None expression is skipped."""


def _key(key: str) -> str:
    if key.startswith("$"):
        return f"to_json({key}::varchar) || ':'"
    return lit(json.dumps(key) + ":")


def _joined(parts: list[str]) -> str:
    """SQL: the non-NULL texts joined by commas, NULL when all are NULL.

    ``string_agg`` over the list, not ``nullif(concat_ws(...), '')``: DuckDB expands
    ``nullif`` into a CASE that repeats its argument, and inside an outer CASE (the
    payload is only built for ready rows) a nested object's text would then be built
    twice per level of nesting."""
    return f"list_aggregate([{', '.join(parts)}], 'string_agg', ',')"


def obj(*members: Member) -> str:
    """SQL for a JSON object of the non-NULL members, NULL when there are none."""
    parts = [f"{_key(k)} || ({v})" for k, v in members if v is not None]
    return f"('{{' || {_joined(parts)} || '}}')"


def literal_obj(*members: Member) -> str:
    """`obj` whose keys are all constant text, ``$`` included (PostHog's ``$set``)."""
    parts = [f"{lit(json.dumps(k) + ':')} || ({v})" for k, v in members if v is not None]
    return f"('{{' || {_joined(parts)} || '}}')"


def items(*elements: str) -> str:
    """SQL for a JSON array of the non-NULL element JSON texts, NULL when empty."""
    return f"('[' || {_joined(list(elements))} || ']')"


def val(expr: str) -> str:
    """The JSON text of a scalar or list SQL value (NULL stays NULL)."""
    return f"to_json({expr})"


def one_item(expr: str) -> str:
    """A one-element JSON array of a value, NULL when the value is NULL."""
    return f"to_json(case when ({expr}) is not null then [{expr}] end)"


def const(value: str) -> str:
    """The JSON text of a constant string."""
    return lit(json.dumps(value))
