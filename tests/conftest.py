"""Fixtures many test modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from masai.server import build_demo, create_app
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def demo() -> Iterator[LiveServer]:
    """The built-in demo on a real server, paced fast (it waits between steps so streaming
    is visible; tests only need it to stream)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASAI_DEMO_PACE", "0.01")
        with live_server(create_app(build_demo())) as server:
            yield server
