"""Per-destination payload tables: exact request-body elements, eligibility, dedup."""

from trackstack_wh.payloads.build import BuildResult, build_payloads
from trackstack_wh.payloads.registry import PAYLOAD_TABLES, payload_spec

__all__ = ["PAYLOAD_TABLES", "BuildResult", "build_payloads", "payload_spec"]
