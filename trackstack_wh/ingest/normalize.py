"""Parse raw JSON records and normalize the three input shapes into one typed row shape.

All SQL here is generated from the contract (`trackstack_wh.contract.FIELDS`); the only
identifiers in it are contract names, and no input value is ever formatted into it.

Per chunk of records (relation ``records(line_no, raw, pre_reason)``):

1. ``parsed``: one ``json_transform`` per valid JSON object reads every known top-level
   key as text (strings unescaped, numbers as written, objects as JSON), plus the keys
   outside the contract (kept in ``properties``, so nothing is dropped).
2. ``nested``: ``userData`` / ``customData`` / ``event_data`` parsed where present.
3. `checked_columns_sql` selects the typed columns validation looks at.
4. `event_columns_sql` converts every field into its warehouse type for the insert.

A value of the wrong JSON type for a number, timestamp, list or object field is never
coerced silently: the field is named in ``type_errors`` and validation quarantines the
row. Text fields accept any scalar (numbers are kept as written); an object given for a
text field is kept as its JSON text and fails the field's own rules downstream.
"""

from __future__ import annotations

import json
from functools import cache

from trackstack_wh.contract import (
    FIELDS,
    FIELDS_BY_NAME,
    NESTED_OBJECTS,
    FieldSpec,
    Group,
    Kind,
    known_top_level_keys,
)

NESTED_GROUPS: dict[str, frozenset[Group]] = {
    "userData": frozenset({Group.IDENTITY, Group.CLICK_ID, Group.CLIENT}),
    "customData": frozenset({Group.REVENUE, Group.CONTENT, Group.B2B, Group.PLATFORM}),
    "event_data": frozenset({Group.REVENUE, Group.CONTENT, Group.B2B, Group.IDENTITY}),
}
"""Which field groups are read from inside each nested object."""

_NESTED_ALIAS = {obj: f"n{i}" for i, obj in enumerate(NESTED_OBJECTS)}


def q(name: str) -> str:
    """Quote a SQL identifier taken from the contract."""
    return '"' + name.replace('"', '""') + '"'


def _structure(keys: list[str]) -> str:
    """A json_transform structure reading each key as text (objects come back as JSON)."""
    return json.dumps({k: "VARCHAR" for k in keys}).replace("'", "''")


def _nested_keys(obj: str) -> list[str]:
    keys = {f.name for f in FIELDS if f.group in NESTED_GROUPS[obj]}
    keys |= {a.partition(".")[2] for f in FIELDS for a in f.aliases if a.startswith(obj + ".")}
    return sorted(keys)


def _located(field: FieldSpec) -> str:
    """The field's text, taken from the first location of the three shapes that has it."""
    out = [f"p.{q(field.name)}"]
    for alias in field.aliases:
        obj, _, key = alias.rpartition(".")
        out.append(f"{_NESTED_ALIAS[obj]}.{q(key)}" if obj else f"p.{q(key)}")
    out += [
        f"{_NESTED_ALIAS[obj]}.{q(field.name)}"
        for obj in NESTED_OBJECTS
        if field.group in NESTED_GROUPS[obj]
    ]
    return out[0] if len(out) == 1 else f"coalesce({', '.join(out)})"


def _typed(field: FieldSpec) -> tuple[str, str | None]:
    """(typed value, type-error condition or None) for one field."""
    x = _located(field)
    if field.kind is Kind.STRING:
        return f"nullif({x}, '')", None
    if field.kind is Kind.NUMBER:
        n = f"try_cast(trim({x}) as double)"
        return f"case when isfinite({n}) then {n} end", f"not coalesce(isfinite({n}), false)"
    if field.kind is Kind.INTEGER:
        n = f"try_cast(trim({x}) as double)"
        ok = f"coalesce({n} = round({n}) and abs({n}) < 1e15, false)"
        return f"case when {ok} then {n}::bigint end", f"not {ok}"
    if field.kind is Kind.TIMESTAMP:
        n = f"try_cast(trim({x}) as double)"
        value = (
            f"case when isfinite({n}) then to_timestamp(case when abs({n}) < 1e11 then {n} "
            f"when abs({n}) < 1e14 then {n} / 1e3 else {n} / 1e6 end) "
            f"else try_cast(trim({x}) as timestamptz) end"
        )
        return value, f"({value}) is null"
    if field.kind is Kind.STRING_LIST:
        value = (
            f"case when starts_with({x}, '[') then try(json_transform({x}, '[\"VARCHAR\"]')) "
            f"when not starts_with({x}, '{{') then [{x}] end"
        )
        return value, f"({value}) is null"
    value = f"case when starts_with(ltrim({x}), '{{') and json_valid({x}) then {x}::json end"
    return value, f"({value}) is null"


@cache
def parse_statements() -> tuple[str, str]:
    """Statements that build temp tables ``parsed`` and ``nested`` from ``records``.

    ``records`` must hold only lines that are valid JSON objects (see `flag_sql`).
    """
    top_keys = sorted(known_top_level_keys())
    known = "[" + ", ".join("'" + k + "'" for k in top_keys) + "]"
    parse = f"""
create or replace temp table parsed as
select line_no, unnest(json_transform(raw, '{_structure(top_keys)}')),
    list_filter(json_keys(raw), lambda k: not list_contains({known}, k)) as unknown_keys
from records where parse_error is null"""
    nested_cols = ",\n    ".join(
        f"case when starts_with({q(obj)}, '{{') and json_valid({q(obj)}) then "
        f"json_transform({q(obj)}, '{_structure(_nested_keys(obj))}') end as {_NESTED_ALIAS[obj]}"
        for obj in NESTED_OBJECTS
    )
    any_nested = " or ".join(f"{q(obj)} is not null" for obj in NESTED_OBJECTS)
    nested = f"""
create or replace temp table nested as
select line_no,
    {nested_cols}
from parsed where {any_nested}"""
    return parse, nested


FLAG_SQL = """
select line_no, raw,
    coalesce(pre_reason, case when not json_valid(raw) then 'invalid_json'
                              when not (starts_with(raw, '{') or starts_with(ltrim(raw), '{'))
                              then 'not_an_object' end) as parse_error
from chunk
"""
"""Marks each raw record of relation ``chunk`` with its parse error, if any."""

CHECKED_FIELDS: tuple[str, ...] = (
    "event",
    "eventId",
    "ts",
    "email",
    "value",
    "currency",
    "transactionId",
    "refundId",
    "plan",
    "actionType",
    "contentType",
    "pageUrl",
)
"""The fields whose values validation looks at (the rest only need their type)."""

_FROM = """
from parsed p left join nested using (line_no)
"""


@cache
def checked_columns_sql() -> str:
    """SELECT of the validated columns, ``type_errors`` and shape flags, per line_no."""
    cols = []
    for name in CHECKED_FIELDS:
        field = FIELDS_BY_NAME[name]
        value = _typed(field)[0]
        if name == "eventId":
            value = f"coalesce({value}, 'gen_' || left(sha256(r.raw), 32))"
        cols.append(f"{value} as {q(field.column)}")
    errors = [
        f"case when {_located(f)} is not null and {err} then '{f.name}' end"
        for f in FIELDS
        for err in [_typed(f)[1]]
        if err is not None
    ]
    errors += [
        f"case when p.{q(obj)} is not null and {_NESTED_ALIAS[obj]} is null then '{obj}' end"
        for obj in NESTED_OBJECTS
    ]
    return f"""
select p.line_no,
    {", ".join(cols)},
    {_located(FIELDS_BY_NAME["eventId"])} is null as event_id_generated,
    {_located(FIELDS_BY_NAME["ts"])} is null as ts_missing,
    len(p.unknown_keys) > 0 as has_unknown_keys,
    list_filter([{", ".join(errors)}], lambda e: e is not null) as type_errors
{_FROM} join records r on r.line_no = p.line_no"""


@cache
def event_columns_sql() -> str:
    """SELECT of every contract field in its warehouse type, per line_no, plus shape info."""
    cols = ",\n    ".join(
        f"{_typed(f)[0]} as {q(f.column)}" for f in FIELDS if f.name not in ("eventId", "ts")
    )
    return f"""
select p.line_no,
    case when p.event_name is not null or p.event_data is not null then 'seed002'
         when p."userData" is not null or p."customData" is not null then 'nested'
         else 'flat' end as input_shape,
    case when len(p.unknown_keys) > 0 then json_object_from_keys(r.raw, p.unknown_keys) end
        as properties,
    {cols}
{_FROM} join records r on r.line_no = p.line_no"""


OBJECT_FROM_KEYS_MACRO = """
create or replace temp macro json_object_from_keys(doc, keys) as
    to_json(map_from_entries(list_transform(keys, lambda k: {
        'k': k, 'v': json_extract(doc, '/' || replace(replace(k, '~', '~0'), '/', '~1'))
    })))
"""
"""Builds a JSON object of the given top-level keys of ``doc`` (the unknown keys)."""
