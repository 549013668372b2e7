"""Reports for notebooks, scripts and the static HTML report: funnel, quality, delivery.

Each is a ``Report``: ``.df`` (polars), ``.tables``, ``.chart()`` (Altair), a rich
Jupyter repr with charts rendered offline, and text / CSV / JSON renderings.
"""

from trackstack_wh.reports.base import Report
from trackstack_wh.reports.delivery import DeliveryReport, delivery_report
from trackstack_wh.reports.funnel import BREAKDOWNS, PERIODS, FunnelReport, funnel_report
from trackstack_wh.reports.quality import QualityReport, quality_report

__all__ = [
    "BREAKDOWNS",
    "PERIODS",
    "DeliveryReport",
    "FunnelReport",
    "QualityReport",
    "Report",
    "delivery_report",
    "funnel_report",
    "quality_report",
]
