"""The resources, built without reading anything: loading the code location reads no
environment variable and parses no file, so an unset variable or a broken trackstack.toml
never keeps the UI or ``dg check defs`` from loading.

Each resource resolves its settings when a step (or a sensor tick) uses it, from the run's
environment: $TRACKSTACK_DB, $TRACKSTACK_CONFIG, $TRACKSTACK_CLOCK, $TRACKSTACK_PLATFORMS
(emulator | live | URL), $TRACKSTACK_INBOX / _LANDING / _EXPORT,
$TRACKSTACK_INTRADAY_MINUTES / _LIVE (the intraday sensor, at tick time), and every
credential variable trackstack.toml names (see ``dagster_defs.lib.resources``)."""

import dagster as dg

from dagster_defs.lib.resources import (
    CredentialsResource,
    FoldersResource,
    IntradayResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "workspace": WorkspaceResource(),
            "folders": FoldersResource(),
            "platforms": PlatformsResource(),
            "credentials": CredentialsResource(),
            "intraday": IntradayResource(),
        }
    )
