"""gateway/stages/per_backend.py: one object per backend, shared by its tools, kept across reloads while unchanged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.config import Config, HttpBackendSpec, ToolSpec
from gateway.config.model import BreakerSpec
from gateway.stages.per_backend import PerBackend, backend_key
from tests.stages.calls import shipped

CRM = "http://127.0.0.1:8701"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return shipped(tmp_path_factory.mktemp("audit"))


def spec(config: Config, name: str, *, url: str = CRM + "/x", service: str | None = None, **fields: object) -> ToolSpec:
    """A shipped HTTP tool's spec under ``name``, pointed at ``url`` (and ``service``), with ``fields`` changed."""
    base = config.tools["crm.get_customer"]
    assert isinstance(base.backend, HttpBackendSpec)
    return replace(base, name=name, backend=replace(base.backend, url=url, service=service), **fields)


def with_tools(config: Config, *specs: ToolSpec) -> Config:
    return replace(config, tools={tool.name: tool for tool in specs})


class Built:
    """What ``build`` made for one backend: its key and settings (identity tells kept from rebuilt)."""

    def __init__(self, key: str, settings: BreakerSpec) -> None:
        self.key, self.settings = key, settings


def circuits(config: Config, previous: PerBackend[BreakerSpec, Built] | None = None) -> PerBackend[BreakerSpec, Built]:
    return PerBackend(
        config,
        settings_of=lambda tool: tool.breaker,
        strictest=lambda a, b: BreakerSpec(
            min(a.failure_threshold, b.failure_threshold), max(a.reset_timeout_s, b.reset_timeout_s)
        ),
        default=BreakerSpec(),
        build=Built,
        previous=previous,
    )


def test_a_backend_is_named_by_its_service_else_its_origin_else_its_callable(config: Config) -> None:
    assert backend_key(spec(config, "a", url=CRM + "/crm/customers/{id}")) == CRM
    assert backend_key(spec(config, "b", url=CRM + "/reports", service="reports")) == "service:reports"
    assert backend_key(config.tools["clock.now"]) == "python:gateway.demo.tools:current_time"


def test_tools_on_one_origin_share_one_object_and_a_named_service_has_its_own(config: Config) -> None:
    held = circuits(with_tools(config, spec(config, "a"), spec(config, "b"), spec(config, "c", service="reports")))
    assert held.by_tool["a"] is held.by_tool["b"]
    assert held.by_tool["c"] is not held.by_tool["a"]
    assert held.by_tool["c"].key == "service:reports"


def test_the_strictest_settings_of_a_backends_tools_win_whatever_their_order(config: Config) -> None:
    loose = spec(config, "loose", breaker=BreakerSpec(failure_threshold=9, reset_timeout_s=5))
    strict = spec(config, "strict", breaker=BreakerSpec(failure_threshold=2, reset_timeout_s=60))
    silent = spec(config, "silent")  # declares none: takes what its backend's other tools say
    for order in ((loose, strict, silent), (silent, strict, loose)):
        held = circuits(with_tools(config, *order))
        assert held.by_tool["silent"].settings == BreakerSpec(failure_threshold=2, reset_timeout_s=60)


def test_a_backend_none_of_whose_tools_declares_settings_gets_the_defaults(config: Config) -> None:
    assert circuits(with_tools(config, spec(config, "a"))).by_tool["a"].settings == BreakerSpec()


def test_a_reload_keeps_an_unchanged_backends_object_and_rebuilds_a_changed_one(config: Config) -> None:
    before = circuits(with_tools(config, spec(config, "a"), spec(config, "r", service="reports")))
    changed = spec(config, "r", service="reports", breaker=BreakerSpec(failure_threshold=1))
    after = circuits(with_tools(config, spec(config, "a"), spec(config, "a2"), changed), previous=before)
    assert after.by_tool["a"] is before.by_tool["a"], "same key, same settings: an open circuit stays open"
    assert after.by_tool["a2"] is before.by_tool["a"], "a new tool on a kept backend shares its object"
    assert after.by_tool["r"] is not before.by_tool["r"]
    assert after.by_tool["r"].settings == BreakerSpec(failure_threshold=1)


def test_a_backend_that_is_gone_is_not_carried_into_the_next_configuration(config: Config) -> None:
    before = circuits(with_tools(config, spec(config, "r", service="reports")))
    after = circuits(with_tools(config, spec(config, "a")), previous=before)
    assert set(after.by_tool) == {"a"}
    assert after.by_tool["a"].key == CRM
