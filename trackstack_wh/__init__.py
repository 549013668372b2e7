"""trackstack_wh: TrackStack conversion events into a DuckDB warehouse and out to ad platforms.

import trackstack_wh as tw
wh = tw.connect()
wh.ingest("data/samples")
wh.events()
"""

from trackstack_wh.errors import TrackstackError, UnreadableFileError, WarehouseBusyError
from trackstack_wh.ingest.report import FileReport, IngestReport
from trackstack_wh.timewindow import TimeWindow
from trackstack_wh.warehouse import Warehouse, connect

__version__ = "0.1.0"

__all__ = [
    "FileReport",
    "IngestReport",
    "TimeWindow",
    "TrackstackError",
    "UnreadableFileError",
    "Warehouse",
    "WarehouseBusyError",
    "__version__",
    "connect",
]
