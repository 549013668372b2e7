"""The TrackStack event contract as data: canonical events, fields, currencies, reasons."""

from trackstack_wh.contract.currencies import CURRENCY_CODES, CURRENCY_EXPONENTS
from trackstack_wh.contract.events import (
    CANONICAL_EVENTS,
    CUSTOM_STAGE,
    EVENTS_BY_NAME,
    EXTENSION_NAME_PATTERN,
    FUNNEL_STAGES,
    REFUND_EVENTS,
    REVENUE_EVENTS,
    CanonicalEvent,
    Family,
    Route,
    Stage,
    events_in_family,
    is_extension_name,
)
from trackstack_wh.contract.fields import (
    CLICK_ID_FIELDS,
    FIELDS,
    FIELDS_BY_NAME,
    NESTED_OBJECTS,
    FieldSpec,
    Group,
    Kind,
    known_top_level_keys,
)
from trackstack_wh.contract.reasons import QUARANTINE_REASONS, REASONS_BY_CODE, WARNINGS, Reason

__all__ = [
    "CANONICAL_EVENTS",
    "CLICK_ID_FIELDS",
    "CURRENCY_CODES",
    "CURRENCY_EXPONENTS",
    "CUSTOM_STAGE",
    "EVENTS_BY_NAME",
    "EXTENSION_NAME_PATTERN",
    "FIELDS",
    "FIELDS_BY_NAME",
    "FUNNEL_STAGES",
    "NESTED_OBJECTS",
    "QUARANTINE_REASONS",
    "REASONS_BY_CODE",
    "REFUND_EVENTS",
    "REVENUE_EVENTS",
    "WARNINGS",
    "CanonicalEvent",
    "Family",
    "FieldSpec",
    "Group",
    "Kind",
    "Reason",
    "Route",
    "Stage",
    "events_in_family",
    "is_extension_name",
    "known_top_level_keys",
]
