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
# # Funnel analysis
#
# People, companies and events through Awareness -> Interest -> Acquisition ->
# Activation -> Revenue, with conversion rates, time to sign-up and to revenue, revenue
# net of refunds, channel and plan breakdowns, and weekly sign-up cohorts.
#
# A person is the event's `externalId`; else the `externalId` the same email carries on
# another event; else the email; else the person known for the same session (so the
# anonymous page views before a sign-up count for that person).

# %%
import os
from pathlib import Path

import altair as alt
import polars as pl

import trackstack_wh as tw

alt.renderers.enable("svg")  # charts render offline (vl-convert), no CDN needed
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
DB = os.environ.get("TRACKSTACK_DB") or ROOT / "data" / "warehouse.duckdb"
wh = tw.connect(DB, config=ROOT / "trackstack.toml")
wh.ingest(ROOT / "data" / "samples")  # a no-op when already loaded

# %% [markdown]
# ## Stages per week

# %%
funnel = wh.funnel(period="week")
funnel.df.head(10)

# %%
funnel.chart()

# %%
funnel.chart("trend")

# %% [markdown]
# Over the whole window (each person counted once per stage):

# %%
totals = funnel.table("totals")
assert totals["people"][0] >= totals["people"][2]  # more people aware than signed up
totals

# %% [markdown]
# ## Time to sign-up and to revenue
# Sign-up is a person's first Acquisition-stage event; revenue their first
# purchase-family event with a value.

# %%
funnel.table("timing")

# %% [markdown]
# ## Revenue, refunds, chargebacks and churn
# In major currency units (the workspace's `value_unit` says how `value` is recorded);
# currencies are never added to each other.

# %%
funnel.table("revenue").group_by("currency").agg(
    pl.col("purchases", "gross_revenue", "refunded", "charged_back", "net_revenue").sum()
).sort("currency")

# %%
funnel.chart("revenue")

# %% [markdown]
# ## Breakdowns: acquisition channel and plan
# The channel is the platform of the click ID on a person's first touch (gclid -> Google
# Ads, fbclid -> Meta, ...), else `referral` when there is a referrer, else `direct`.

# %%
by_channel = wh.funnel(period="month", by="channel")
by_channel.table("totals").pivot(on="stage", index="channel", values="people")

# %%
by_channel.chart()

# %%
wh.funnel(period="month", by="plan").table("totals").filter(stage="Revenue")

# %% [markdown]
# ## Weekly sign-up cohorts
# Share of each week's sign-ups active in each following week.

# %%
cohorts = funnel.table("cohorts")
cohorts.pivot(on="weeks_since_signup", index=["cohort_week", "signups"], values="retention")

# %%
funnel.chart("cohorts")

# %% [markdown]
# ## Going further with SQL
# The warehouse is plain DuckDB; `wh.sql` binds `$name` parameters.

# %%
wh.sql(
    "select event_name, count(*) as events from events where stage = $stage "
    "group by all order by events desc",
    stage="Revenue",
)
