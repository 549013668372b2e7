"""Funnel steps: a canonical stage, an event name, or either with a small filter
(``Purchase where value > 100 and currency = 'USD'``), turned into SQL whose values are
bound as parameters; columns are checked against the ``events`` table, operators against
a fixed list, and values against the column's type when the step is parsed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from trackstack_wh.contract.events import FUNNEL_STAGES, Stage
from trackstack_wh.errors import UsageError

STAGE_NAMES = {s.value.lower(): s.value for s in Stage}
DEFAULT_STEPS = tuple(s.value for s in FUNNEL_STAGES)
MAX_STEPS = 50
OPERATORS = ("=", "!=", "<>", ">=", "<=", ">", "<")
LIST_OPS = ("in", "not in")
NULL_OPS = ("is null", "is not null")
SCALAR_TYPES = re.compile(
    r"^(VARCHAR|DOUBLE|FLOAT|REAL|BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|"
    r"BOOLEAN|DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE|DECIMAL\(\d+,\d+\))$"
)
"""Column types a filter may compare (no JSON, lists or structs)."""
LOSSES = "(c.family is distinct from 'refund' and e.event_name <> 'Churned')"
"""Refunds, chargebacks and churn do not reach a stage (as in the period report)."""
TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")|(?P<num>-?\d+(?:\.\d+)?(?![\w.]))|"""
    r"""(?P<op>>=|<=|!=|<>|=|>|<)|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w.]*))"""
)
SUBJECT = re.compile(r"\s*([A-Za-z_][\w.]*)")
"""A step text's subject (a stage or an event name)."""
WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days",
         "w": "weeks"}  # fmt: skip

Value = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    """``column op value`` (or ``column in (...)``, ``column is [not] null``)."""

    column: str
    op: str
    values: tuple[Value, ...] = ()


@dataclass(frozen=True)
class Step:
    """One funnel step: a stage or an event name, and conditions on the event's columns."""

    label: str
    stage: str | None
    event_name: str | None
    conditions: tuple[Condition, ...] = ()

    def sql(self, prefix: str, column_types: dict[str, str]) -> tuple[str, dict[str, Value]]:
        """A boolean SQL expression over ``events e`` (and ``canonical_events c``), with
        its parameters (named ``{prefix}_...``)."""
        params: dict[str, Value] = {}
        if self.stage is not None:
            params[f"{prefix}_subject"] = self.stage
            parts = [f"e.stage = ${prefix}_subject", LOSSES]
        else:
            assert self.event_name is not None
            params[f"{prefix}_subject"] = self.event_name
            parts = [f"e.event_name = ${prefix}_subject"]
        for i, cond in enumerate(self.conditions):
            kind = column_types[cond.column]
            col = f'e."{cond.column}"'
            if cond.op in NULL_OPS:
                parts.append(f"{col} {cond.op}")
                continue
            names = []
            for j, value in enumerate(cond.values):
                name = f"{prefix}_c{i}_{j}"
                params[name] = value
                names.append(f"cast(${name} as {kind})")
            if cond.op == "in":
                parts.append(f"{col} in ({', '.join(names)})")
            elif cond.op == "not in":
                parts.append(f"{col} not in ({', '.join(names)})")
            else:
                parts.append(f"{col} {cond.op} {names[0]}")
        return "(" + " and ".join(parts) + ")", params


def event_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The ``events`` columns a filter or breakdown may name, with their SQL types."""
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'events' and table_schema = 'main'"
    ).fetchall()
    return {name: kind for name, kind in rows if SCALAR_TYPES.match(kind)}


def parse_steps(
    steps: Sequence[str | Step] | str | None,
    conn: duckdb.DuckDBPyConnection,
    column_types: dict[str, str],
) -> list[Step]:
    """Parse step texts (None: the five funnel stages; a string: comma-separated)."""
    if steps is None:
        texts: Sequence[str | Step] = DEFAULT_STEPS
    elif isinstance(steps, str):
        texts = split_steps(steps)
    else:
        texts = steps
    if not texts or len(texts) > MAX_STEPS:
        raise UsageError(f"a funnel has 1 to {MAX_STEPS} steps, not {len(texts)}")
    subjects = {m[1] for t in texts if isinstance(t, str) and (m := SUBJECT.match(t))}
    named = sorted(s for s in subjects if s.lower() not in STAGE_NAMES)
    known = known_events(conn, named) if named else set()
    out = [t if isinstance(t, Step) else parse_step(t, known, column_types) for t in texts]
    for step in out:
        check_conditions(step, conn, column_types)
    return out


def known_events(conn: duckdb.DuckDBPyConnection, names: Sequence[str]) -> set[str]:
    """Those of ``names`` that are event names in the warehouse or the contract."""
    rows = conn.execute(
        "select event_name from canonical_events where list_contains($names, event_name) "
        "union select event_name from events where list_contains($names, event_name)",
        {"names": list(names)},
    ).fetchall()
    return {name for (name,) in rows}


def check_conditions(
    step: Step, conn: duckdb.DuckDBPyConnection, column_types: dict[str, str]
) -> None:
    """Each condition names a comparable ``events`` column and an operator of the fixed
    list, and each value converts to the column's type (as ``Step.sql`` will cast it;
    else ``UsageError`` naming the step, column, type and value)."""
    for cond in step.conditions:
        kind = column_types.get(cond.column)
        if kind is None:
            raise UsageError(
                f"step {step.label!r}: unknown column {cond.column!r}; choose from "
                f"{sorted(column_types)}"
            )
        if cond.op not in (*OPERATORS, *LIST_OPS, *NULL_OPS):
            raise UsageError(f"step {step.label!r}: unknown operator {cond.op!r}")
        arity_ok = (
            not cond.values if cond.op in NULL_OPS
            else bool(cond.values) if cond.op in LIST_OPS
            else len(cond.values) == 1
        )  # fmt: skip
        if not arity_ok:
            raise UsageError(
                f"step {step.label!r}: {cond.column} {cond.op} with {len(cond.values)} values"
            )
        for value in cond.values:
            try:
                row = conn.execute(
                    f"select try_cast($v as {kind}) is not null", {"v": value}
                ).fetchone()
            except (duckdb.Error, OverflowError, TypeError):
                row = None
            if row is None or not row[0]:
                raise UsageError(
                    f"step {step.label!r}: column {cond.column!r} is {kind}, and {value!r} "
                    f"is not a {kind} value"
                )


def split_steps(text: str) -> list[str]:
    """Split ``A,B where x in (1,2),C`` at the commas outside quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_step(text: str, known_events: set[str], column_types: dict[str, str]) -> Step:
    """One step: ``Subject [where cond [and cond ...]]``."""
    tokens = _tokens(text)
    if not tokens or tokens[0][0] != "word":
        raise UsageError(f"step {text!r}: start with a stage or an event name")
    subject = tokens[0][1]
    stage = STAGE_NAMES.get(subject.lower())
    if stage is None and subject not in known_events:
        raise UsageError(
            f"step {text!r}: {subject!r} is neither a stage ({', '.join(DEFAULT_STEPS)}, ...) "
            "nor an event name in the warehouse or the contract"
        )
    rest = tokens[1:]
    conditions: list[Condition] = []
    if rest:
        if rest[0][0] != "word" or rest[0][1].lower() != "where":
            raise UsageError(f"step {text!r}: expected 'where' after {subject!r}")
        conditions = _conditions(text, rest[1:], column_types)
    label = " ".join(text.split())
    return Step(label, stage, None if stage else subject, tuple(conditions))


def parse_window(value: dt.timedelta | str | int | float) -> dt.timedelta:
    """A conversion window: a timedelta, ``14d``, ``12h``, ``30m``, ``2w`` or days."""
    if isinstance(value, dt.timedelta):
        window = value
    elif isinstance(value, (int, float)):
        window = dt.timedelta(days=value)
    else:
        match = WINDOW.match(value)
        if match is None:
            raise UsageError(f"window {value!r}: write e.g. 14d, 12h, 30m or 2w")
        window = dt.timedelta(**{UNITS[match[2].lower()]: float(match[1])})
    if window <= dt.timedelta(0):
        raise UsageError(f"window {value!r} must be positive")
    return window


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise UsageError(f"step {text!r}: cannot read {text[pos:].strip()!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match[kind]))
        pos = match.end()
    return out


def _value(text: str, token: tuple[str, str]) -> Value:
    kind, raw = token
    if kind == "str":
        return raw[1:-1].replace(raw[0] * 2, raw[0])
    if kind == "num":
        return float(raw) if "." in raw else int(raw)
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise UsageError(f"step {text!r}: {raw!r} is not a value (quote strings: 'pro')")


def _conditions(
    text: str, tokens: list[tuple[str, str]], column_types: dict[str, str]
) -> list[Condition]:
    out: list[Condition] = []
    i = 0
    while True:
        if i >= len(tokens) or tokens[i][0] != "word":
            raise UsageError(f"step {text!r}: expected a column name after 'where'/'and'")
        column = tokens[i][1].lower()
        if column not in column_types:
            raise UsageError(
                f"step {text!r}: unknown column {column!r}; choose from {sorted(column_types)}"
            )
        i += 1
        words = [t[1].lower() for t in tokens[i : i + 3]]
        if words[:2] == ["is", "null"] or words[:3] == ["is", "not", "null"]:
            op = "is not null" if words[1] == "not" else "is null"
            out.append(Condition(column, op))
            i += 2 if op == "is null" else 3
        elif words[:2] == ["in", "("] or words[:3] == ["not", "in", "("]:
            op = "not in" if words[0] == "not" else "in"
            i += 2 if op == "in" else 3
            if i < len(tokens) and tokens[i] == ("punct", ")"):
                raise UsageError(f"step {text!r}: empty 'in ()'")
            values: list[Value] = []
            while True:
                if i >= len(tokens):
                    raise UsageError(f"step {text!r}: unclosed 'in (...)'")
                values.append(_value(text, tokens[i]))
                i += 1
                if i < len(tokens) and tokens[i] == ("punct", ","):
                    i += 1
                elif i < len(tokens) and tokens[i] == ("punct", ")"):
                    i += 1
                    break
                else:
                    raise UsageError(
                        f"step {text!r}: separate the values of 'in (...)' with commas and "
                        "close it with ')'"
                    )
            out.append(Condition(column, op, tuple(values)))
        elif i < len(tokens) and tokens[i][0] == "op" and i + 1 < len(tokens):
            out.append(Condition(column, tokens[i][1], (_value(text, tokens[i + 1]),)))
            i += 2
        else:
            raise UsageError(
                f"step {text!r}: after {column!r} write one of {', '.join(OPERATORS)}, "
                "in (...), is null or is not null, then a value"
            )
        if i == len(tokens):
            return out
        if tokens[i][1].lower() != "and":
            raise UsageError(f"step {text!r}: join conditions with 'and'")
        i += 1
