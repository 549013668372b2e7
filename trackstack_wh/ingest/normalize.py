"""Parse raw JSON records and normalize the three input shapes into one typed row shape.

All SQL here is generated from the contract (`trackstack_wh.contract.FIELDS`); the only
identifiers in it are contract names, and no input value is ever formatted into it.

`staged_sql` turns the well-formed records of a chunk (relation ``chunk(line_no, raw,
pre_reason)``) into one typed row each, in a single pass of stacked projections so that
no JSON document is parsed twice and no expression is evaluated twice:

1. ``json_transform`` reads every known top-level key as text (strings unescaped,
   numbers as written, objects as JSON); keys outside the contract are listed so they
   can be kept in ``properties`` (nothing is dropped).
2. ``userData`` / ``customData`` / ``event_data`` are parsed where they are objects.
3. Each field's text is taken from the first of its locations in the three shapes.
4. The text is converted to the field's warehouse type; a value present with the wrong
   JSON type is never coerced silently: the field is named in ``type_errors`` and
   validation quarantines the row. Text fields accept any scalar (numbers are kept as
   written); an object given for a text field is kept as its JSON text.
"""

from __future__ import annotations

import json
from functools import cache

from trackstack_wh.contract import (
    CUSTOM_STAGE,
    FIELDS,
    NESTED_OBJECTS,
    URL_CLICK_PARAMETERS,
    Family,
    FieldSpec,
    Group,
    Kind,
    known_top_level_keys,
)
from trackstack_wh.contract.patterns import EMAIL_PATTERN, SHA256_HEX_PATTERN
from trackstack_wh.ingest.client_ip import STORED_IP, project_rows
from trackstack_wh.ingest.sessions import session_sql

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


def _structure(keys: list[str], nested: dict[str, list[str]] | None = None) -> str:
    """A json_transform structure reading each key as text (objects come back as JSON),
    and each key of ``nested`` as an object of such keys."""
    spec: dict[str, object] = {k: "VARCHAR" for k in keys}
    spec.update({obj: {k: "VARCHAR" for k in inner} for obj, inner in (nested or {}).items()})
    return json.dumps(spec).replace("'", "''")


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


def _text(i: int) -> str:
    return f"t{i}"


def _number(i: int) -> str:
    return f"d{i}"


def converted_sql(i: int, field: FieldSpec) -> str:
    """The field's warehouse value from its text ``t{i}`` (and number ``d{i}``)."""
    t, d = _text(i), _number(i)
    if field.kind is Kind.STRING:
        return f"nullif({t}, '')"
    if field.kind is Kind.NUMBER:
        return f"case when isfinite({d}) then {d} end"
    if field.kind is Kind.INTEGER:
        return f"case when {d} = round({d}) and abs({d}) < 1e15 then {d}::bigint end"
    if field.kind is Kind.TIMESTAMP:
        seconds = (
            f"case when abs({d}) < 1e11 then {d} when abs({d}) < 1e14 then {d} / 1e3 "
            f"else {d} / 1e6 end"
        )
        return (
            f"case when isfinite({d}) then case when abs({seconds}) < {MAX_EPOCH_SECONDS} "
            f"then to_timestamp({seconds}) end "
            f"when {d} is null and isfinite(s{i}) then s{i} end"
        )
    if field.kind is Kind.STRING_LIST:
        return (
            f"case when starts_with({t}, '[') then try(json_transform({t}, '[\"VARCHAR\"]')) "
            f"when not starts_with({t}, '{{') then [{t}] end"
        )
    return f"case when starts_with(ltrim({t}), '{{') and json_valid({t}) then {t}::json end"


URL_FIELDS = ("pageUrl", "referrer")
"""Where click IDs are looked for when a record does not carry them, in this order."""


def _from_url(value: str, field: FieldSpec, urls: list[str]) -> str:
    """``value``, else (for a click-ID field) the first of its query parameters found in
    the texts ``urls``: ``?gclid=abc`` or ``&gclid=abc``, percent-decoded."""
    params = URL_CLICK_PARAMETERS.get(field.name, ())
    found = [  # the contains() guard skips the regex on most URLs (12x faster at 1M rows)
        f"case when contains({url}, '{param}=') then "
        f"nullif(url_decode(regexp_extract({url}, '[?&]{param}=([^&#]*)', 1)), '') end"
        for url in urls
        for param in params
    ]
    return f"coalesce({value}, {', '.join(found)})" if found else value


MAX_EPOCH_SECONDS = 253_402_300_800
"""Epoch values at or past 10000-01-01 are not timestamps (a type error, not a crash)."""

_NUMERIC_KINDS = frozenset({Kind.NUMBER, Kind.INTEGER, Kind.TIMESTAMP})
_EVENT_ID = next(i for i, f in enumerate(FIELDS) if f.name == "eventId")
_TS = next(i for i, f in enumerate(FIELDS) if f.name == "ts")


CHECK_FIELDS: tuple[str, ...] = (
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
    *(f.name for f in FIELDS if f.kind is not Kind.STRING and f.name != "ts"),
)
"""What validation reads: the checked fields and every field that can have a type error."""


def _nested_keys(obj: str, fields: list[FieldSpec]) -> list[str]:
    keys = {f.name for f in fields if f.group in NESTED_GROUPS[obj]}
    keys |= {a.partition(".")[2] for f in fields for a in f.aliases if a.startswith(obj + ".")}
    return sorted(keys)


def _top_keys(fields: list[FieldSpec]) -> list[str]:
    keys = {f.name for f in fields} | set(NESTED_OBJECTS)
    keys |= {a for f in fields for a in f.aliases if "." not in a}
    return sorted(keys)


@cache
def staged_sql(names: tuple[str, ...] | None = None, only_kept: bool = False) -> str:
    """SELECT of one typed row per well-formed record of ``chunk``.

    With ``names`` (contract field names) only those fields are read: the narrow pass
    validation runs on. Without, every field plus ``input_shape`` and ``properties``
    (the keys outside the contract). Both passes share every expression, so a field has
    the same value in each. ``only_kept`` limits the records to those whose boolean
    ``kept`` column of ``chunk`` is true (a column, not a join: a semi-join on line
    numbers made DuckDB carry every parsed row through the join, 2.5x slower).

    Columns: ``line_no``, the fields under their warehouse column names (``event_id``
    falls back to ``gen_`` + the record's SHA-256), ``event_id_generated``,
    ``ts_missing``, ``has_unknown_keys`` and ``type_errors`` (fields present with the
    wrong type).
    """
    full = names is None
    fields = [(i, f) for i, f in enumerate(FIELDS) if names is None or f.name in names]
    specs = [f for _, f in fields]
    top_keys = sorted(known_top_level_keys()) if full else _top_keys(specs)
    known = "[" + ", ".join("'" + k + "'" for k in sorted(known_top_level_keys())) + "]"
    nested_keys = {obj: _nested_keys(obj, specs) for obj in NESTED_OBJECTS}
    if only_kept:
        # Kept records have no type errors: their nested objects are objects, read in
        # the same parse as the record.
        structure = _structure([k for k in top_keys if k not in nested_keys], nested_keys)
        nested = ", ".join(f"p.{q(obj)} as {a}" for obj, a in _NESTED_ALIAS.items())
        nested_given = ""
    else:
        structure = _structure(top_keys)
        nested = ",\n        ".join(
            f"case when starts_with(p.{q(obj)}, '{{') and json_valid(p.{q(obj)}) then "
            f"json_transform(p.{q(obj)}, '{_structure(keys)}') end as {_NESTED_ALIAS[obj]}"
            for obj, keys in nested_keys.items()
        )
        nested_given = "".join(f"p.{q(obj)} as {q('given_' + obj)}, " for obj in NESTED_OBJECTS)
    nested_alias = ", ".join(_NESTED_ALIAS.values())
    texts = ",\n        ".join(f"{_located(f)} as {_text(i)}" for i, f in fields)
    numbers = ",\n        ".join(
        [f"try_cast(trim({_text(i)}) as double) as {_number(i)}" for i, f in fields
         if f.kind in _NUMERIC_KINDS]
        + [f"try_cast(trim({_text(i)}) as timestamptz) as s{i}" for i, f in fields
           if f.kind is Kind.TIMESTAMP]
    )  # fmt: skip
    urls = [_text(i) for i, f in fields if f.name in URL_FIELDS]
    converted = ",\n        ".join(
        f"{_from_url(converted_sql(i, f), f, urls)} as {q(f.column)}" for i, f in fields
    )
    type_errors = ", ".join(
        [
            f"case when {_text(i)} is not null and {q(f.column)} is null then '{f.name}' end"
            for i, f in fields
            if f.kind is not Kind.STRING
        ]
        + [
            f"case when {q('given_' + obj)} is not null and {a} is null then '{obj}' end"
            for obj, a in _NESTED_ALIAS.items()
        ]
    )
    if only_kept:
        type_errors = ""
    event_id = q(FIELDS[_EVENT_ID].column)
    columns = ", ".join(q(f.column) for i, f in fields if i != _EVENT_ID)
    unknown = (
        f"list_filter(json_keys(raw), lambda k: not list_contains({known}, k))"
        if full
        else "[]::varchar[]"
    )
    shape_columns = (
        "input_shape, case when len(unknown_keys) > 0 "
        "then json_object_from_keys(raw, unknown_keys) end as properties,"
        if full
        else ""
    )
    # Kept records passed the narrow pass, which checked that they parse as objects.
    records = (
        "kept"
        if only_kept
        else "pre_reason is null and json_valid(raw) and starts_with(ltrim(raw), '{')"
    )
    return f"""
with parsed as (
    select line_no, raw, json_transform(raw, '{structure}') as p,
        {unknown} as unknown_keys
    from chunk
    where {records}
), nested as (
    select line_no, raw, p, unknown_keys,
        {nested}
    from parsed
), located as (
    select line_no, raw, unknown_keys, {nested_given}{nested_alias},
        case when p.event_name is not null or p.event_data is not null then 'seed002'
             when p."userData" is not null or p."customData" is not null then 'nested'
             else 'flat' end as input_shape,
        {texts}
    from nested p
), numbers as (
    select *,
        {numbers}
    from located
), converted as (
    select *,
        {converted}
    from numbers
)
select line_no,
    coalesce({event_id}, 'gen_' || left(sha256(raw), 32)) as {event_id},
    {columns},
    {shape_columns}
    {event_id} is null as event_id_generated,
    {_text(_TS)} is null as ts_missing,
    len(unknown_keys) > 0 as has_unknown_keys,
    list_filter([{type_errors}]::varchar[], lambda e: e is not null) as type_errors
from converted"""


def checked_sql() -> str:
    """The narrow pass over ``chunk``: the columns validation and dedup need."""
    return staged_sql(CHECK_FIELDS)


@cache
def insert_events_sql() -> str:
    """INSERT into ``events`` of the records of ``chunk`` marked ``kept`` (they
    passed validation and dedup), every field typed and warnings computed on the way
    (parameters ``$received_at``, ``$batch_id`` and ``$seq_base``, to which the line
    number is added to give ``event_seq``, and those of `client_ip.ip_params`). A
    missing ``ts`` is taken from the HTTP sink's receive time when the event came
    through it, else from ``$received_at``. Client IPs are stored under their project's
    policy (`trackstack_wh.ingest.client_ip`, whose macros must be defined on the
    connection); a record without a session gets one (`trackstack_wh.ingest.sessions`)."""
    page_view = Family.PAGE_VIEW.value
    warnings = [
        "case when s.ts_missing then 'ts_inferred' end",
        "case when s.event_id_generated then 'event_id_generated' end",
        f"case when c.family = '{page_view}' and nullif(trim(s.page_url), '') is null "
        "then 'missing_recommended:pageUrl' end",
        f"case when s.email is not null and not regexp_matches(trim(s.email), "
        f"'{EMAIL_PATTERN}|{SHA256_HEX_PATTERN}') then 'invalid_email' end",
        "case when s.has_unknown_keys then 'unknown_fields' end",
    ]
    event_time = "coalesce(s.ts, s.edge_received_at, $received_at)"
    return f"""
insert into events by name
select s.* exclude (ts, ts_missing, has_unknown_keys, type_errors, session_id),
    {event_time} as ts,
    cast({event_time} as date) as event_date,
    {session_sql(event_time)} as session_id,
    s.session_id is null as session_id_generated,
    coalesce(c.stage, '{CUSTOM_STAGE}') as stage,
    c.event_name is not null as is_canonical,
    $received_at as received_at, $batch_id as batch_id, s.ts_missing as ts_inferred,
    $seq_base + s.line_no as event_seq,
    list_filter([{", ".join(warnings)}], lambda w: w is not null) as warnings
from (select * replace ({STORED_IP} as client_ip)
      from ({project_rows(staged_sql(only_kept=True))}) s) s
left join canonical_events c on c.event_name = s.event_name"""


PARSE_ERRORS_SQL = """
select line_no,
    coalesce(pre_reason, case when not json_valid(raw) then 'invalid_json' else 'not_an_object' end)
        as parse_error
from chunk anti join parsed_lines using (line_no)
"""
"""The records of ``chunk`` the parse skipped (``parsed_lines`` holds the others): those
that are not JSON objects, with their reason."""

OBJECT_FROM_KEYS_MACRO = """
create or replace temp macro json_object_from_keys(doc, keys) as
    to_json(map_from_entries(list_transform(keys, lambda k: {
        'k': k, 'v': json_extract(doc, '/' || replace(replace(k, '~', '~0'), '/', '~1'))
    })))
"""
"""Builds a JSON object of the given top-level keys of ``doc`` (the unknown keys)."""
