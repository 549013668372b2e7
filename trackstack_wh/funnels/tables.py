"""The funnel's tables from the person paths (a relation with ``reached``, ``t1..tn``
and a grouping key): people per step, conversion, time between steps, and the
time-to-convert histogram."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 h", 3600.0),
    ("1-6 h", 6 * 3600.0),
    ("6-24 h", 86400.0),
    ("1-3 d", 3 * 86400.0),
    ("3-7 d", 7 * 86400.0),
    ("7-14 d", 14 * 86400.0),
    ("14-30 d", 30 * 86400.0),
    ("30+ d", float("inf")),
)
"""Time-to-convert histogram buckets: label and upper bound in seconds (exclusive)."""


TIMES = ("median_time_from_previous", "p90_time_from_previous")
"""Columns of ``steps_sql`` in microseconds, to read as durations (``as_durations``)."""


def as_durations(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``TIMES`` columns as polars durations."""
    return frame.with_columns(pl.col(c).cast(pl.Duration("us")) for c in TIMES)


def _labels(labels: Sequence[str]) -> tuple[str, dict[str, object]]:
    rows = ", ".join(f"({i}, $label{i})" for i in range(1, len(labels) + 1))
    return rows, {f"label{i}": label for i, label in enumerate(labels, 1)}


def steps_sql(
    paths: str, labels: Sequence[str], key: str, keys: str
) -> tuple[str, dict[str, object]]:
    """Per ``key`` value (an expression over the paths, e.g. ``segment``) and step:
    ``people``, ``conversion_from_previous``, ``conversion_from_first`` and the median
    and 90th percentile time from the previous step (microseconds). ``keys`` lists the key values to
    show even without people (a query with a ``key`` column)."""
    parts = []
    for i in range(1, len(labels) + 1):
        delta = f"epoch_us(t{i}) - epoch_us(t{i - 1})" if i > 1 else "null::bigint"
        parts.append(
            f"select key, {i} as step_order, count(*)::bigint as people, "
            f"quantile_cont({delta}, 0.5) as med, quantile_cont({delta}, 0.9) as p90 "
            f"from paths where reached >= {i} group by key"
        )
    rows, params = _labels(labels)
    query = f"""
with paths as (select *, {key} as key from {paths}),
per_step as ({" union all ".join(parts)}),
labels(step_order, step) as (values {rows}),
grid as (select k.key, l.step_order, l.step from ({keys}) k cross join labels l),
counted as (
    select g.key, g.step_order, g.step, coalesce(p.people, 0)::bigint as people, p.med, p.p90
    from grid g left join per_step p
        on p.key is not distinct from g.key and p.step_order = g.step_order
)
select key, step_order, step, people,
    people / nullif(lag(people) over w, 0) as conversion_from_previous,
    people / nullif(first_value(people) over w, 0) as conversion_from_first,
    round(med)::bigint as median_time_from_previous,
    round(p90)::bigint as p90_time_from_previous
from counted
window w as (partition by key order by step_order)
order by key nulls first, step_order"""
    return query, params


def histogram_sql(paths: str, labels: Sequence[str]) -> tuple[str, dict[str, object]]:
    """People per step (from step 2) and bucket of time from the previous step."""
    deltas = " union all ".join(
        f"select {i} as step_order, epoch_us(t{i}) - epoch_us(t{i - 1}) as us "
        f"from {paths} where reached >= {i}"
        for i in range(2, len(labels) + 1)
    )
    cases = " ".join(
        f"when us < {bound * 1e6:.0f} then {n}" if bound != float("inf") else f"else {n}"
        for n, (_, bound) in enumerate(BUCKETS, 1)
    )
    rows, params = _labels(labels)
    names = ", ".join(f"({n}, '{label}')" for n, (label, _) in enumerate(BUCKETS, 1))
    if not deltas:
        deltas = "select null::int as step_order, null::bigint as us where false"
    query = f"""
with deltas as ({deltas}),
binned as (select step_order, case {cases} end as bucket_order from deltas),
labels(step_order, step) as (values {rows}),
names(bucket_order, bucket) as (values {names})
select b.step_order, l.step, b.bucket_order, n.bucket, count(*)::bigint as people
from binned b join labels l using (step_order) join names n using (bucket_order)
group by all
order by step_order, bucket_order"""
    return query, params
