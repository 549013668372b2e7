"""Schemathesis against the live sink on loopback: no 5xx, and every answer matches the
OpenAPI document (status, content type, headers, body schema) the sink serves."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.sink_support import SECRET, running_sink
from trackstack_lab.sink_process import SinkProcess
from trackstack_wh.sink.openapi import openapi_document

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def live_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkProcess]:
    with running_sink(tmp_path_factory.mktemp("openapi")) as process:
        yield process


def test_the_live_sink_serves_this_document(live_sink: SinkProcess) -> None:
    assert httpx.get(f"{live_sink.base_url}/openapi.json").json() == openapi_document()


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_sink_conforms_to_its_openapi_document(
    case: schemathesis.Case, live_sink: SinkProcess
) -> None:
    headers = {"x-ts-key": SECRET, **(case.headers or {})}
    case.call_and_validate(base_url=live_sink.base_url, headers=headers)
