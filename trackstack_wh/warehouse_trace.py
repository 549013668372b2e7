"""Tracing of the notebook API (``Warehouse`` inherits it): one conversion end to end."""

from __future__ import annotations

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.trace import DEFAULT_LIMIT, Trace, trace


class TraceMethods:
    """``wh.trace(...)``: where an event came from and what became of it everywhere."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig

    def trace(
        self,
        event_id: str | None = None,
        *,
        email: str | None = None,
        transaction_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        trace_all: bool = False,
    ) -> Trace:
        """One conversion end to end: the file and line it came from (or its quarantine
        or duplicate record), its fields, quality score and match keys, each destination's
        routing decision, payload row (secrets masked), delivery attempts and
        reconciliation bucket. Renders as HTML in Jupyter; ``.to_text()``, ``.to_dict()``.

        ``email``: normalized and hashed as identity does; lists the person's conversions
        (most recent first, at most ``limit``) and traces the latest (all with
        ``trace_all``). ``transaction_id``: every event with it as transactionId or
        orderId. Raises ``NotFoundError`` when nothing matches. Never writes.
        """
        return trace(
            self.conn, self.config, event_id, email=email, transaction_id=transaction_id,
            limit=limit, trace_all=trace_all,
        )  # fmt: skip
