"""Delivery: push payload rows to the platforms, log every attempt, reconcile."""

from trackstack_wh.delivery.push import push
from trackstack_wh.delivery.report import DestinationReport, PushReport

__all__ = ["DestinationReport", "PushReport", "push"]
