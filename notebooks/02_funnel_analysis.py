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
# Activation -> Revenue per period, time to sign-up and to revenue, revenue net of
# refunds, channel and plan breakdowns, weekly sign-up cohorts, and ordered conversion
# funnels (who went on, in order, within a window; who dropped; what the ad platforms
# received).
#
# A person is the event's `externalId`; else the `externalId` the same email carries on
# another event; else the email; else the person known for the same session (so the
# anonymous page views before a sign-up count for that person).

# %%
import datetime as dt
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
#
# `ratio_to_previous_stage` compares the people at a stage with the people at the
# previous stage in the same week. They are not the same people, so it can exceed 1: it
# is not a conversion rate (for that, see the ordered conversion funnel below).

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
# ## Ordered conversion funnel
# Of the people who started, how many reached each next step, in order, within 30 days
# of their first step (the PostHog/Amplitude definition; `order="any"` for unordered)?
# People are stitched across user ID, email and session, as everywhere else.

# %%
conversion = wh.conversion_funnel(window=dt.timedelta(days=30))
conversion.df

# %%
conversion.chart()

# %%
conversion.chart("time_to_convert")

# %% [markdown]
# Steps can be event names, or events with a small filter; `by` splits the funnel by
# channel, referrer, plan, company, click_source or any event column without personal data.

# %%
demo_path = wh.conversion_funnel(
    ["PricingInteraction", "DemoBooked", "Purchase where value > 0"], window="14d", by="channel"
)
demo_path.df

# %% [markdown]
# Who dropped after reaching Interest (for a CRM list or a follow-up), and conversion by
# the week people entered the funnel (each person in one cohort, so rates stay within 1):

# %%
conversion.people(step=2, status="dropped").head(10)

# %%
conversion.trends("week").pivot(on="step", index="cohort", values="conversion_from_first")

# %% [markdown]
# What the ad platforms received of each step's conversions (empty until payloads are
# built): routed, sent, delivered, rejected or skipped with the top reasons, and the
# share of sent rows carrying an email, phone, user ID or click ID.

# %%
conversion.delivery()

# %% [markdown]
# ## Going further with SQL
# The warehouse is plain DuckDB; `wh.sql` binds `$name` parameters.

# %%
wh.sql(
    "select event_name, count(*) as events from events where stage = $stage "
    "group by all order by events desc",
    stage="Revenue",
)
