"""``wh.conversion_funnel(...)``: ordered conversion funnels (``trackstack_wh.funnels``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.funnels import ConversionFunnel, Step, conversion_funnel


class FunnelMethods:
    """Conversion funnels over the warehouse's people."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig

    def conversion_funnel(
        self,
        steps: Sequence[str | Step] | str | None = None,
        window: dt.timedelta | str | float = dt.timedelta(days=30),
        by: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        order: str = "strict",
    ) -> ConversionFunnel:
        """People reaching each of ``steps`` in order (``order="any"``: in any order)
        within ``window`` (a timedelta or ``"14d"``) of their first step, among events
        in ``[since, until)``.

        ``steps``: stages, event names or filtered ones (``"Purchase where value > 100"``;
        default the five funnel stages). ``by``: channel, referrer, plan, company,
        click_source or an events column without personal data (read from the step-1
        event). Drop-off lists show emails as ``[privacy]`` allows. ``.df`` has
        ``people``, ``conversion_from_previous``, ``conversion_from_first`` and the
        median and 90th percentile time from the previous step; also ``.people(step,
        status)``, ``.trends(period)``, ``.delivery()``, ``.chart()``.
        """
        return conversion_funnel(
            self.conn, steps, window=window, by=by, since=since, until=until, order=order,
            privacy=self.config.privacy,
        )  # fmt: skip
