"""``trackstack.toml`` as typed, validated structures.

- ``workspace``: ``WorkspaceConfig``, ``load_config``, ``parse_config``;
- ``destinations``: ``Destination``, the settings every destination takes;
- ``platforms``: one ``Destination`` subclass per destination;
- ``parsing``: ``[destinations.<name>]`` tables into those classes;
- ``sink``: the HTTP sink's ``SinkSettings`` and its ``Project`` tenants;
- ``apis``: the versioned platform APIs and their version settings;
- ``checks``: the checks every section shares (keys, types, names, ID formats).
"""

from trackstack_wh.config.destinations import (
    AD_DESTINATIONS,
    ANALYTICS_DESTINATIONS,
    CRM_DESTINATIONS,
    DESTINATIONS,
    EMULATOR_TARGET,
    LIVE,
    Destination,
)
from trackstack_wh.config.platforms import (
    DESTINATION_TYPES,
    GoogleAdsDestination,
    HubSpotDestination,
    LinkedInDestination,
    MetaDestination,
    PostHogDestination,
    RedditDestination,
    SalesforceDestination,
    SnapchatDestination,
    TikTokDestination,
)
from trackstack_wh.config.sink import (
    IpPolicy,
    KeyKind,
    Project,
    ProjectKey,
    SinkSettings,
    load_keys,
)
from trackstack_wh.config.workspace import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    WorkspaceConfig,
    load_config,
    parse_config,
    resolve_config_path,
)

__all__ = [
    "AD_DESTINATIONS",
    "ANALYTICS_DESTINATIONS",
    "CONFIG_ENV",
    "CRM_DESTINATIONS",
    "DEFAULT_CONFIG",
    "DESTINATIONS",
    "DESTINATION_TYPES",
    "EMULATOR_TARGET",
    "LIVE",
    "Destination",
    "GoogleAdsDestination",
    "HubSpotDestination",
    "IpPolicy",
    "KeyKind",
    "LinkedInDestination",
    "MetaDestination",
    "PostHogDestination",
    "Project",
    "ProjectKey",
    "RedditDestination",
    "SalesforceDestination",
    "SinkSettings",
    "SnapchatDestination",
    "TikTokDestination",
    "WorkspaceConfig",
    "load_config",
    "load_keys",
    "parse_config",
    "resolve_config_path",
]
