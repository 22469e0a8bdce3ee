"""Every route is documented in ``/openapi.json`` (bodies, parameters, errors), and a fuzzer
driven by that document finds no 5xx and no error outside the ``{"error": …}`` shape."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from masai.server import ServerSettings, create_app
from tests.support.registries import echo_registry
from tests.support.server import live_server

KEY = "fuzz-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
#: Caps the fuzzer must not trip over (it starts hundreds of runs in seconds).
ROOMY = {"run_burst": 1_000_000, "run_rate": 1e6, "global_run_burst": 1_000_000}


@pytest.fixture(scope="module")
def api_schema() -> Iterator[Any]:
    settings_ = ServerSettings.build({"api_keys": {"fuzz": KEY}, "global_run_rate": 1e6, **ROOMY})
    with live_server(create_app(echo_registry(), settings_)) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH)
        schema.config.update(base_url=server.url)
        yield schema


def test_every_api_route_documents_its_body_and_errors(api_schema: Any) -> None:
    raw = api_schema.raw_schema
    paths = raw["paths"]
    assert set(paths) >= {
        "/agent/stream",
        "/agent/stream/simple",
        "/mas/stream",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/responses",
        "/ag-ui/{target_id}",
        "/ai-sdk/{id}",
        "/healthz",
    }
    for path in ("/agent/stream", "/mas/stream", "/v1/chat/completions", "/v1/responses"):
        post = paths[path]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" in body or "anyOf" in body, path
        assert {"401", "413", "415", "422", "429"} <= set(post["responses"]), path
        assert "text/event-stream" in post["responses"]["200"]["content"], path
    assert "ErrorBody" in raw["components"]["schemas"]


def test_no_5xx_and_every_error_in_one_shape(api_schema: Any) -> None:
    """Each operation, with bounded examples generated from its documented schema (valid and
    invalid data, both)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for operation, mode in itertools.product(operations, modes):
        if mode is modes[1] and not (len(operation.query) or len(operation.body)):
            continue  # (nothing to get wrong)

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def probe(case: Any) -> None:
            response = case.call(headers=AUTH, timeout=10)
            where = (case.method, case.path, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                error = response.json()["error"]
                # (OpenAI's shape, on the /v1 routes, may add ``param``.)
                assert set(error) - {"param"} == {"message", "type", "code"}, where
                assert all(isinstance(v, str) and v for v in error.values()), where

        probe()
