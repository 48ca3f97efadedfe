"""Fixtures the backend-safety stage tests share: a scripted loopback backend, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stages.backends import ScriptedBackend, serve_scripted


@pytest.fixture(scope="module")
def backend_server() -> Iterator[tuple[ScriptedBackend, str]]:
    backend = ScriptedBackend()
    with serve_scripted(backend) as url:
        yield backend, url


@pytest.fixture
def backend(backend_server: tuple[ScriptedBackend, str]) -> ScriptedBackend:
    backend_server[0].reset()
    return backend_server[0]
