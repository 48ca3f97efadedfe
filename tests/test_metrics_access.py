"""Who may read /metrics: the holder of the configured bearer token, or, without one, loopback clients only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import ConfigError, load_config
from gateway.metrics import ScrapeAccess
from gateway.serving import serve_in_thread
from tests.test_edge import configured

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def guarded(backend_url: str, tmp_path: Path) -> Iterator[str]:
    """A gateway whose /metrics wants the bearer token in CALLGATE_TEST_METRICS_TOKEN."""
    config_dir = configured(tmp_path, metrics_token_env="CALLGATE_TEST_METRICS_TOKEN")
    environment = {
        "CALLGATE_DEMO_BACKEND_URL": backend_url,
        "CALLGATE_AUDIT_DIR": str(tmp_path / "audit"),
        "CALLGATE_TEST_METRICS_TOKEN": TOKEN,
    }
    with serve_in_thread(create_app(load_config(config_dir, env=environment), environment)) as url:
        yield url


def test_metrics_with_the_token_are_served(guarded: str) -> None:
    response = httpx.get(f"{guarded}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    assert "callgate_config_info" in response.text


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789abcd", f"Basic {TOKEN}", TOKEN])
def test_metrics_without_the_token_are_401(guarded: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{guarded}/metrics", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == -31401
    assert "callgate_" not in response.text


def test_metrics_without_a_token_configured_are_served_to_loopback_clients(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/metrics", timeout=10).status_code == 200


def test_without_a_token_only_loopback_clients_may_scrape() -> None:
    """Clients off loopback cannot be made on this machine's tests; the rule itself is checked here."""
    access = ScrapeAccess(None)
    assert access.allows(None, "127.0.0.1") and access.allows(None, "::1")
    assert not access.allows(None, "10.0.0.5")
    assert not access.allows(None, None)
    assert not access.allows(b"Bearer anything", "192.0.2.7")


def test_with_a_token_the_client_address_does_not_matter() -> None:
    access = ScrapeAccess(TOKEN)
    assert access.allows(f"Bearer {TOKEN}".encode(), "192.0.2.7")
    assert not access.allows(None, "127.0.0.1")


@pytest.mark.parametrize("value", [None, "", "short"])
def test_a_named_but_unset_or_short_token_stops_the_build(tmp_path: Path, value: str | None) -> None:
    config = load_config(configured(tmp_path, metrics_token_env="CALLGATE_TEST_METRICS_TOKEN"), env={})
    env = {"CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
    if value is not None:
        env["CALLGATE_TEST_METRICS_TOKEN"] = value
    with pytest.raises(ConfigError) as caught:
        create_app(config, env)
    assert caught.value.json_path == "$.server.metrics_token_env"
    assert "CALLGATE_TEST_METRICS_TOKEN" in str(caught.value)


@pytest.fixture
def gateway_url(backend_url: str, tmp_path: Path) -> Iterator[str]:
    environment = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
    with serve_in_thread(create_app(load_config(configured(tmp_path), env=environment), environment)) as url:
        yield url
