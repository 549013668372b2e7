"""Steps run in subprocesses, two at a time (this is a 2-core default; raise it on bigger
machines). Steps that open the DuckDB file also share the ``duckdb_warehouse`` pool,
limited to one in dagster.yaml, since DuckDB allows a single writing process."""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.multiprocess_executor.configured({"max_concurrent": 2}))
