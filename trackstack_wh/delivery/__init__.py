"""Delivery: push payload rows to the platforms, log every attempt, reconcile.

`push` lives in ``trackstack_wh.delivery.push`` (it pulls in httpx; importing this
package alone stays light for the warehouse's start-up)."""

from trackstack_wh.delivery.report import DestinationReport, PushReport

__all__ = ["DestinationReport", "PushReport"]
