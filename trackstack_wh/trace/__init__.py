"""Trace one conversion end to end (``wh.trace(...)``, ``trackstack-wh trace``): the file
and line it came from (or its quarantine or duplicate record), its fields, quality and
match keys, each destination's routing decision, payload row, delivery attempts and
reconciliation bucket, secrets masked."""

from trackstack_wh.trace.model import DestinationTrace, EventTrace, PayloadTrace, Trace
from trackstack_wh.trace.search import DEFAULT_LIMIT, trace

__all__ = ["DEFAULT_LIMIT", "DestinationTrace", "EventTrace", "PayloadTrace", "Trace", "trace"]
