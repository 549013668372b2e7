"""Destinations: workspace config, routing policy and platform event mapping."""

from trackstack_wh.config import Destination, WorkspaceConfig, load_config
from trackstack_wh.destinations.mapping import DESTINATIONS, platform_event_name
from trackstack_wh.destinations.routing import build_event_routes

__all__ = [
    "DESTINATIONS",
    "Destination",
    "WorkspaceConfig",
    "build_event_routes",
    "load_config",
    "platform_event_name",
]
