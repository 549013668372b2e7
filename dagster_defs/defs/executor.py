"""Steps run in their own subprocesses (forked from a server that has the code loaded),
one at a time per run: nearly every step writes the DuckDB file, and DuckDB allows one
writing process, so running two would only make one wait. Across runs (a backfill next
to a schedule), steps that open the warehouse share the ``duckdb_warehouse`` pool,
limited to one in dagster.yaml."""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(
        executor=dg.multiprocess_executor.configured(
            {"max_concurrent": 1, "start_method": {"forkserver": {}}}
        )
    )
