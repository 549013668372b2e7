# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: from raw event files to platform-ready payloads
#
# This notebook loads the committed sample batches into a DuckDB warehouse, shows where
# every record went, scores event quality and builds the conversion-API payloads for
# each destination configured in `trackstack.toml`. Nothing is sent here (see notebook 03).
#
# It uses the same warehouse file as `trackstack-wh demo` (`$TRACKSTACK_DB`, else
# `data/warehouse.duckdb`); every step is idempotent, so running it after the demo (or
# twice) changes nothing.

# %%
import os
from pathlib import Path

import trackstack_wh as tw

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
DB = os.environ.get("TRACKSTACK_DB") or ROOT / "data" / "warehouse.duckdb"
wh = tw.connect(DB, config=ROOT / "trackstack.toml")
wh

# %% [markdown]
# ## 1. Ingest
# Files or folders: NDJSON, JSON (edge bodies or arrays), CSV, Parquet, gzipped or not.
# Loading the same bytes again is a no-op that says so.

# %%
report = wh.ingest(ROOT / "data" / "samples")
report

# %% [markdown]
# Every record lands in exactly one place: `events`, `quarantine` (with a
# machine-readable reason) or `duplicates`. The accounting per file:

# %%
batches = wh.batches()
assert (
    batches["rows_in"]
    == batches["rows_valid"] + batches["rows_quarantined"] + batches["rows_duplicate"]
).all()
batches.select("source_uri", "rows_in", "rows_valid", "rows_quarantined", "rows_duplicate")

# %%
wh.quarantine(limit=5).select("line_no", "reason", "detail")

# %%
wh.events(limit=5).select("event_name", "stage", "ts", "email", "external_id", "value", "currency")

# %% [markdown]
# ## 2. Quality and dedup
# Identity values are normalized and hashed per platform; each event gets a 0-10 score
# with its components, and per-destination dedup windows are applied.

# %%
wh.refresh_quality()
wh.quality_summary(by="stage")

# %%
wh.quality_summary(by="destination")

# %% [markdown]
# ## 3. Payloads
# One table per destination with the exact request-body element per event, or the reason
# it is skipped. Event ages are judged at the samples' own clock (`replay_clock()`).

# %%
results = wh.build_payloads(as_of=wh.replay_clock())
wh.payload_summary().head(12)

# %%
request = wh.preview("meta", limit=1)[0]
print(request.method, request.url)
request.body["data"][0]

# %% [markdown]
# ## 4. A first look at the funnel
# `wh.funnel()` returns a report: `.df` is a polars frame, `.chart()` an Altair chart,
# and the report renders itself (tables plus charts, drawn offline) in Jupyter.

# %%
funnel = wh.funnel("month")
funnel.headline()

# %%
funnel
