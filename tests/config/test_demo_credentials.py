"""The published demo credentials are recognised by content, and never served off loopback unless asked for."""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from gateway.app import Listener, create_app
from gateway.auth import hash_key
from gateway.config import ConfigError, load_config
from gateway.config.demo_credentials import DEMO_API_KEY_HASHES, DEMO_JWT_KEY_SHA256, demo_credentials_in
from gateway.demo.keys import read_demo_keys
from gateway.serving import serve_in_thread
from tests.conftest import REPO_ROOT
from tests.test_edge import configured

EXPOSED = Listener("0.0.0.0")


def with_own_keys(config_dir: Path, admin_key: str, extra: str = "") -> None:
    """Replace the principals of ``config_dir`` with one admin API key (and ``extra`` entries), no JWT issuer."""
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    principals = (
        "principals:\n  api_keys:\n"
        f"    - {{subject: ops, tenant: acme, roles: [admin], sha256: {hash_key(admin_key)}}}\n{extra}"
    )
    text = re.sub(r"(?ms)^principals:\n.*?(?=^[a-z_]+:)", principals, gateway_yaml.read_text())
    gateway_yaml.write_text(text)


def test_fingerprints_are_those_of_the_published_files() -> None:
    """Kept in step with policies/: a new demo key would otherwise pass unnoticed."""
    keys = read_demo_keys(REPO_ROOT)
    assert {hash_key(key) for key in keys.values()} == DEMO_API_KEY_HASHES
    public = load_pem_public_key((REPO_ROOT / "policies" / "demo-jwt-public.pem").read_bytes())
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(der).hexdigest() == DEMO_JWT_KEY_SHA256


def test_shipped_configuration_holds_the_demo_keys_and_the_demo_jwt_key() -> None:
    found = demo_credentials_in(load_config(REPO_ROOT, env={}))
    assert len(found) == 2
    assert "support-bot, sales-bot, finance-bot, ops-admin" in found[0]
    assert "https://idp.acme.example" in found[1]


def test_own_keys_are_not_demo_credentials(tmp_path: Path) -> None:
    config_dir = configured(tmp_path)
    with_own_keys(config_dir, secrets.token_urlsafe(24))
    assert demo_credentials_in(load_config(config_dir, env={})) == ()


def test_demo_jwt_key_is_recognised_under_another_file_name(tmp_path: Path) -> None:
    config_dir = configured(tmp_path)
    shutil.copy(config_dir / "policies" / "demo-jwt-public.pem", config_dir / "policies" / "idp.pem")
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    gateway_yaml.write_text(gateway_yaml.read_text().replace("policies/demo-jwt-public.pem", "policies/idp.pem"))
    assert any("idp.acme.example" in item for item in demo_credentials_in(load_config(config_dir, env={})))


def test_exposed_listener_refuses_the_demo_credentials(tmp_path: Path) -> None:
    config = load_config(configured(tmp_path, allowed_hosts=["*"]), env={})
    with pytest.raises(ConfigError) as caught:
        create_app(config, {}, EXPOSED)
    message = str(caught.value)
    assert "policies/demo-keys.env" in message and "demo-jwt-private.pem" in message
    assert "callgate keys new" in message and "--allow-demo-credentials" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_listener_accepts_the_demo_credentials(tmp_path: Path, host: str) -> None:
    config = load_config(configured(tmp_path), env={})
    create_app(config, {"CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}, Listener(host))


def test_reload_bringing_demo_credentials_onto_an_exposed_server_is_refused(
    backend_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    """The running configuration stays in force: the demo key it tried to add is still unknown."""
    admin_key = secrets.token_urlsafe(24)
    config_dir = configured(tmp_path, allowed_hosts=["*"])
    with_own_keys(config_dir, admin_key)
    env = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
    app = create_app(load_config(config_dir, env=env), env, EXPOSED)
    demo_hash = hash_key(demo_keys["support-agent"])
    demo_entry = f"    - {{subject: bot, tenant: acme, roles: [support-agent], sha256: {demo_hash}}}\n"
    with serve_in_thread(app) as url:
        with_own_keys(config_dir, admin_key, extra=demo_entry)
        reload = httpx.post(
            f"{url}/admin/policy/reload", headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        ).json()
        ping = {"jsonrpc": "2.0", "method": "ping", "id": 1}
        demo = httpx.post(f"{url}/rpc", json=ping, headers={"Authorization": f"Bearer {demo_keys['support-agent']}"})
    assert reload["reloaded"] is False
    assert "demo API keys" in reload["error"]
    assert demo.status_code == 401
