"""RFC 9728 protected resource metadata: served when JWT issuers are configured, 404 otherwise."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.auth.metadata import metadata_url
from tests.auth.conftest import edit_gateway_yaml
from tests.conftest import GatewayFactory, RunningGateway

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_metadata_names_the_resource_and_the_trusted_issuers(gateway: RunningGateway) -> None:
    response = httpx.get(f"{gateway.url}{WELL_KNOWN}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "resource": "http://127.0.0.1:8700",
        "authorization_servers": ["https://idp.acme.example"],
        "bearer_methods_supported": ["header"],
        "resource_name": "callgate",
    }


def test_401_points_clients_at_the_metadata(gateway: RunningGateway) -> None:
    response = httpx.post(f"{gateway.url}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="http://127.0.0.1:8700{WELL_KNOWN}"'


def test_metadata_is_404_and_the_challenge_the_plain_realm_without_jwt_issuers(
    start_gateway: GatewayFactory, config_copy: Path
) -> None:
    edit_gateway_yaml(config_copy, replace=True)
    gateway = start_gateway(config_copy)
    assert httpx.get(f"{gateway.url}{WELL_KNOWN}", timeout=10).status_code == 404
    response = httpx.post(f"{gateway.url}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)
    assert response.headers["www-authenticate"] == 'Bearer realm="callgate"'


def test_a_resource_with_a_path_has_its_metadata_under_the_path_suffixed_url(
    start_gateway: GatewayFactory, config_copy: Path
) -> None:
    """RFC 9728 section 3.1: https://host/mcp is described at https://host/.well-known/oauth-protected-resource/mcp."""
    edit_gateway_yaml(config_copy, resource_uri="https://gw.example/mcp")
    gateway = start_gateway(config_copy)
    for suffix in ("/mcp", ""):
        response = httpx.get(f"{gateway.url}{WELL_KNOWN}{suffix}", timeout=10)
        assert response.json()["resource"] == "https://gw.example/mcp"
    assert httpx.get(f"{gateway.url}{WELL_KNOWN}/other", timeout=10).status_code == 404


def test_metadata_url_goes_between_host_and_path() -> None:
    assert metadata_url("http://127.0.0.1:8700") == f"http://127.0.0.1:8700{WELL_KNOWN}"
    assert metadata_url("https://gw.example/") == f"https://gw.example{WELL_KNOWN}"
    assert metadata_url("https://gw.example/tenant/a/") == f"https://gw.example{WELL_KNOWN}/tenant/a"
