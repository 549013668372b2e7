"""Conversion funnels: ordered (or unordered) steps within a window, over the stitched
people, with drop-off lists, cohort trends and the ad platforms' view of each step."""

from trackstack_wh.funnels.report import ConversionFunnel, conversion_funnel
from trackstack_wh.funnels.steps import DEFAULT_STEPS, Step, parse_window

__all__ = ["DEFAULT_STEPS", "ConversionFunnel", "Step", "conversion_funnel", "parse_window"]
