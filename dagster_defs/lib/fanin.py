"""Assets that follow every destination's asset (a fan-in) without being skipped when some
of them are not materialized.

A disabled destination's assets yield no output (see ``defs/capi/assets.py``). Dagster
skips a step when any upstream output it depends on through an asset dependency is
missing, so a plain ``@dg.asset(deps=[...every destination...])`` would be skipped in any
run that includes a disabled destination. Here the upstream assets feed one fan-in input
of the op instead (a graph-backed asset): Dagster skips a fan-in only when *all* its
sources are missing, and ``proceed`` (always in the run) is one of them. The op still
waits for every upstream step, and still does not run when one of them failed.
"""

import inspect
from collections.abc import Sequence
from typing import Any

import dagster as dg

AFTER = "after"
"""The op input the upstream assets fan into (``dg.In(dg.Nothing)``)."""


@dg.op(out=dg.Out(dg.Nothing))
def proceed() -> None:
    """Keeps a fan-in from being skipped when every upstream asset in the run was."""


def fan_in_asset(
    name: str, op: dg.OpDefinition, upstream: Sequence[str], **asset_args: Any
) -> dg.AssetsDefinition:
    """The asset ``name`` computed by ``op`` (one ``after`` Nothing input, one output)
    after the ``upstream`` assets; ``asset_args`` go to ``dg.graph_asset``."""

    def compose(**upstream_outputs: Any) -> Any:
        return op(**{AFTER: [proceed(), *upstream_outputs.values()]})

    # dg.graph_asset reads the graph's inputs from the compose function's signature.
    compose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY) for key in upstream]
    )
    compose.__name__ = name
    ins = {key: dg.AssetIn(key, dagster_type=dg.Nothing) for key in upstream}
    return dg.graph_asset(name=name, ins=ins, **asset_args)(compose)
