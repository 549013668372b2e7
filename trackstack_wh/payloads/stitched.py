"""The ``src`` columns a payload reads, with the keys stitched from the event's person.

Each identity and browser/click column is the event's own value, else (when the
destination takes that class, parameters ``$stitch_pii``, ``$stitch_browser``,
``$stitch_clicks``) its ``event_stitch`` value (``s``). ``key_sources`` records, for each
key group the destination matches on, whether the event carried it (``{"from": "self"}``)
or where it was stitched from (``{"from": "event"|"identify", "id", "at"}``); it is built
only for rows that will be sent.
"""

from __future__ import annotations

from trackstack_wh.config import Destination
from trackstack_wh.identity.rules import HASHED_KEYS, KEY_SOURCE, PLATFORMS, Key
from trackstack_wh.identity.sql import PLAIN_KEYS
from trackstack_wh.sql import lit
from trackstack_wh.stitch import (
    BROWSER_COLUMNS,
    CLICK_GROUPS,
    GROUP_CLASS,
    GROUP_OF_SOURCE,
    GROUPS,
)

EVENT_COLUMNS = tuple(
    c for c in BROWSER_COLUMNS + tuple(c for _, cs in CLICK_GROUPS.values() for c in cs)
    if not c.endswith("_sha256")
)  # fmt: skip
"""``events`` columns a stitched value can stand in for (``e.* exclude`` them)."""


def source_columns(groups: tuple[str, ...]) -> str:
    """The identity columns (``<key>_sha256``, plain ``n_<key>``) and the event columns of
    `EVENT_COLUMNS`, each the event's own value, else for the columns of ``groups`` the
    stitched one (``s``)."""
    taken = {c for g in groups for c in GROUPS[g]}

    def column(own: str, name: str) -> str:
        return f"coalesce({own}, s.{name})" if name in taken else own

    columns = [f"{column(f'i.{k}_sha256', f'{k}_sha256')} as {k}_sha256" for k in HASHED_KEYS]
    columns += [f"{column(f'i.{k}', str(k))} as n_{k}" for k in PLAIN_KEYS]
    columns += [f"{column(f'e.{c}', c)} as {c}" for c in EVENT_COLUMNS]
    return ",\n        ".join(columns)


def stitched_groups(dest: Destination) -> tuple[str, ...]:
    """The key groups whose stitched values a destination's rows take: those of the
    classes it takes (``stitching``), of an ad platform only those it matches on (the
    other columns are read as the event has them, and a build joins no stitched keys
    when none is left)."""
    classes, matched = dest.stitch_classes(), key_groups(dest.name)
    return tuple(g for g in GROUPS if GROUP_CLASS[g] in classes and (not matched or g in matched))


GROUP_SOURCES = f"json_extract(s.sources, [{', '.join(lit('$.' + g) for g in GROUPS)}])"
"""SQL over ``event_stitch`` ``s``: the provenance of each group of `GROUPS`, in order
(a list of JSON, NULL for a group not stitched), parsed once per row."""


def _src_column(column: str) -> str:
    """The ``src`` name of a stitchable column (plain identity values are ``n_<key>``)."""
    return f"n_{column}" if column in PLAIN_KEYS else column


def _present(group: str) -> str:
    """SQL over ``src``: the row carries the group (its own or stitched)."""
    columns = [_src_column(c) for c in GROUPS[group]] + (["fbclid"] if group == "fbc" else [])
    return " or ".join(f"{c} is not null" for c in columns)


def key_groups(destination: str) -> tuple[str, ...]:
    """The key groups a destination matches on (none for a CRM)."""
    platform = PLATFORMS.get(destination)
    if platform is None:
        return ()
    groups = {
        GROUP_OF_SOURCE[KEY_SOURCE[m.key]] for m in platform.keys if m.key is not Key.CLIENT_IP
    }
    browser = platform.uses_ip_and_user_agent or any(m.key is Key.CLIENT_IP for m in platform.keys)
    if browser or {"fbp", "ttp"} & set(platform.click_ids):
        groups.add("browser")
    groups |= {g for g, (owner, _) in CLICK_GROUPS.items() if owner == destination}
    return tuple(g for g in GROUPS if g in groups)


def key_sources(destination: str) -> str:
    """SQL over ``src``: the ``key_sources`` JSON of a destination's row (NULL for a CRM):
    per key group it matches on, where the row's value came from (``stitch_sources``:
    `GROUP_SOURCES`)."""
    index = {g: i + 1 for i, g in enumerate(GROUPS)}
    entries = [
        f"{{'k': {lit(g)}, 'v': case when $stitch_{GROUP_CLASS[g]} "
        f"and stitch_sources[{index[g]}] is not null then stitch_sources[{index[g]}] "
        f'when {_present(g)} then \'{{"from": "self"}}\'::json end}}'
        for g in key_groups(destination)
    ]
    if not entries:
        return "null::json"
    listed = ", ".join(entries)
    return f"to_json(map_from_entries(list_filter([{listed}], lambda x: x.v is not null)))"


def stitch_params(dest: Destination) -> dict[str, bool]:
    """``$stitch_<class>``: whether the destination takes each class."""
    chosen = dest.stitch_classes()
    return {f"stitch_{c}": c in chosen for c in ("pii", "browser", "clicks")}
