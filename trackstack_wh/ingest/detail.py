"""The ``detail`` text of a quarantined record: file, line, each reason, its field and fix."""

from __future__ import annotations

import polars as pl

from trackstack_wh.contract import QUARANTINE_REASONS

_REASON_TEXT = pl.DataFrame(
    {
        "code": [r.code for r in QUARANTINE_REASONS],
        "text": [f"{r.meaning}; fix: {r.fix}" for r in QUARANTINE_REASONS],
    }
)


def quarantine_detail(source: str, rejected: pl.DataFrame) -> pl.Series:
    """Human-readable detail per rejected line: file, line, each reason, field and fix."""
    exploded = (
        rejected.select("line_no", "reasons")
        .with_row_index("row")
        .explode("reasons")
        .with_columns(
            code=pl.col("reasons").str.split(":").list.first(),
            field=pl.col("reasons").str.split(":").list.get(1, null_on_oob=True),
        )
        .join(_REASON_TEXT, on="code", how="left", maintain_order="left")
        .with_columns(
            part=pl.concat_str(
                pl.col("reasons"),
                pl.when(pl.col("field").is_not_null())
                .then(pl.concat_str(pl.lit(" (field '"), pl.col("field"), pl.lit("')")))
                .otherwise(pl.lit("")),
                pl.lit(": "),
                pl.col("text").fill_null("see the reason code"),
            )
        )
    )
    per_row = exploded.group_by("row", "line_no", maintain_order=True).agg(
        pl.col("part").str.join("; ")
    )
    return per_row.select(
        pl.concat_str(
            pl.lit(f"{source}:"), pl.col("line_no").cast(pl.String), pl.lit(": "), pl.col("part")
        ).alias("detail")
    )["detail"]
