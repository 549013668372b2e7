"""Dagster definitions over ``trackstack_wh``: load with ``dagster dev`` from the repo root."""
