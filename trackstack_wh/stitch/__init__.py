"""Match keys an event borrows from its person's other events and identify records:
key groups (`groups`), the rows an update reads (`scope`), and ``event_stitch``
(`build`)."""

from trackstack_wh.stitch.build import CHANGED, update_event_stitch
from trackstack_wh.stitch.groups import (
    BROWSER_COLUMNS,
    CLICK_GROUPS,
    GROUP_CLASS,
    GROUP_OF_SOURCE,
    GROUPS,
)

__all__ = [
    "BROWSER_COLUMNS",
    "CHANGED",
    "CLICK_GROUPS",
    "GROUPS",
    "GROUP_CLASS",
    "GROUP_OF_SOURCE",
    "update_event_stitch",
]
