"""Dagster definitions over ``trackstack_wh``: load with ``dg dev`` from the repo root."""
