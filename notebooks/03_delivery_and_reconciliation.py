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
# # Delivery and reconciliation
#
# Push the payload rows to the ad platforms and CRMs, read the delivery log, and check
# that every routed event is accounted for. Here the "platforms" are the local emulator
# (`push_to_emulator` starts it on loopback and stops it after), so nothing leaves this
# machine; with real credentials in the environment, `wh.push()` does the same for real.

# %%
import os
from pathlib import Path

import altair as alt

import trackstack_wh as tw

alt.renderers.enable("svg")
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
DB = os.environ.get("TRACKSTACK_DB") or ROOT / "data" / "warehouse.duckdb"
wh = tw.connect(DB, config=ROOT / "trackstack.toml")
wh.ingest(ROOT / "data" / "samples")
as_of = wh.replay_clock()  # judge event ages at the samples' own clock
wh.build_payloads(as_of=as_of)
wh.payload_summary().filter(status="ready")

# %% [markdown]
# ## Push
# Batched, paced, retried; every attempt is logged, and a row that was delivered (or
# rejected) is never sent again. Every delivery records where it went: these are booked
# under the target `emulator`, never as `live`, so a later `wh.push()` to the real
# platforms still sends every row.

# %%
push = wh.push_to_emulator(as_of=as_of)
push.df

# %%
again = wh.push_to_emulator(as_of=as_of)
assert sum(d.delivered + d.rejected + d.failed for d in again.destinations) == 0
again.df.select("destination", "pending", "delivered")

# %% [markdown]
# ## The delivery log
# The latest state of each row, and every attempt.

# %%
wh.deliveries(limit=5)

# %%
wh.delivery_log(limit=5).select("destination", "event_id", "attempt", "outcome", "http_status")

# %% [markdown]
# ## Delivery report
# Per destination and event day: delivered, rejected, failed and skipped (with reasons).

# %%
delivery = wh.delivery_report(target="emulator")
delivery.table("totals")

# %%
delivery.table("reasons")

# %%
delivery.table("by_target")  # every target's deliveries, labelled

# %%
delivery.chart()

# %% [markdown]
# ## Reconciliation
# Routed events vs payload rows vs delivery outcomes: every routed event must be in
# exactly one bucket.

# %%
reconciliation = wh.reconcile(target="emulator")
assert reconciliation.ok, reconciliation.problems
reconciliation.totals()

# %%
reconciliation.rows("meta", "skipped").select("event_id", "event_name", "reason").head()

# %% [markdown]
# ## Quality of what we send

# %%
quality = wh.quality_report()
quality.table("match_keys").filter(destination="meta").sort("share_without_match_keys")

# %% [markdown]
# ## A report to share
# One self-contained HTML file: funnel, quality and delivery, charts embedded as SVG.

# %%
path = wh.write_html_report(wh.path.parent / "notebook_report.html")
print(path, path.stat().st_size, "bytes")
