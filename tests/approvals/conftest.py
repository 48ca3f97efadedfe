"""What the approval tests share: a config copy to edit, extra principals, a backend that counts refunds."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.demo.backends import create_backend_app
from gateway.serving import serve_in_thread

#: A refund above 200 and within finance's 500: the shipped policy parks it for an approver.
REFUND = {"customer_id": "C1001", "amount": 450, "currency": "EUR", "reason": "contract ended"}
APPROVER = "finance-approver"
AGENT = "finance-agent"


@dataclass
class Refunds:
    """The refunds a backend actually issued: the one count that says whether a call executed."""

    issued: int = 0
    amounts: list[Any] = field(default_factory=list)


class CountingBackend:
    """The demo backends, counting each POST /billing/refunds that reached them."""

    def __init__(self, app: ASGIApp, refunds: Refunds) -> None:
        self._app = app
        self._refunds = refunds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/billing/refunds" and scope["method"] == "POST":
            self._refunds.issued += 1
        await self._app(scope, receive, send)


@pytest.fixture
def refunds() -> Refunds:
    return Refunds()


@pytest.fixture
def counting_backend(refunds: Refunds) -> Iterator[str]:
    with serve_in_thread(CountingBackend(create_backend_app(), refunds)) as url:
        yield url


@dataclass
class ConfigCopy:
    """A writable copy of the shipped configuration, and the keys of the principals added to it."""

    path: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_yaml(self) -> Path:
        return self.path / "policies" / "gateway.yaml"

    def edit_gateway(self, **sections: dict[str, Any]) -> ConfigCopy:
        """Merge ``sections`` into gateway.yaml's top-level sections (comments are lost; tests do not need them)."""
        data = yaml.safe_load(self.gateway_yaml.read_text())
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        self.gateway_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
        return self

    def add_principal(self, subject: str, *roles: str, tenant: str = "acme") -> str:
        """A new API-key principal; its key is returned and kept under ``keys[subject]``."""
        key = "cg_test_" + secrets.token_urlsafe(24)
        data = yaml.safe_load(self.gateway_yaml.read_text())
        entry = {
            "subject": subject,
            "tenant": tenant,
            "roles": list(roles),
            "sha256": hashlib.sha256(key.encode()).hexdigest(),
        }
        data["principals"]["api_keys"].append(entry)
        self.gateway_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
        self.keys[subject] = key
        return key

    def add_rules(self, *lines: str) -> ConfigCopy:
        policy = self.path / "policies" / "policy.csv"
        policy.write_text(policy.read_text() + "".join(line + "\n" for line in lines))
        return self


@pytest.fixture
def config_copy(config_copy: Path) -> ConfigCopy:
    """The shared copy of the shipped configuration (tests/conftest.py), file watching off, with helpers to edit it."""
    return ConfigCopy(config_copy).edit_gateway(server={"watch_config": False})


def call(
    url: str, key: str, arguments: dict[str, Any] | None = None, *, approval_id: str | None = None, tool: str = ""
) -> dict[str, Any]:
    """One tools/call over /rpc; the JSON-RPC answer."""
    params: dict[str, Any] = {
        "name": tool or "billing.issue_refund",
        "arguments": REFUND if arguments is None else arguments,
    }
    if approval_id is not None:
        params["_meta"] = {"callgate/approval_id": approval_id}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    response = httpx.post(f"{url}/rpc", json=message, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    # 200, or 503 for a refusal that says callgate itself cannot serve (store.unavailable alone).
    assert response.status_code in (200, 503), response.text
    answer: dict[str, Any] = response.json()
    return answer


def reason(answer: dict[str, Any]) -> str:
    """``ok`` for a result, else the refusal's reason."""
    if "result" in answer:
        return "ok"
    return str(answer["error"]["data"]["reason"])


def park(url: str, key: str, arguments: dict[str, Any] | None = None, *, tool: str = "") -> str:
    """Make a call that needs approval; the approval id it was refused with (-31202)."""
    answer = call(url, key, arguments, tool=tool)
    error = answer["error"]
    assert (error["code"], error["data"]["reason"]) == (-31202, "approval.pending"), answer
    approval_id: str = error["data"]["approval_id"]
    return approval_id


def decide(url: str, key: str, approval_id: str, verb: str = "approve", why: str | None = None) -> httpx.Response:
    body = {"reason": why} if why is not None else None
    return httpx.post(
        f"{url}/admin/approvals/{approval_id}/{verb}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def show(url: str, key: str, approval_id: str) -> httpx.Response:
    return httpx.get(f"{url}/admin/approvals/{approval_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def listing(url: str, key: str, everything: bool = False) -> httpx.Response:
    query = "?all=1" if everything else ""
    return httpx.get(f"{url}/admin/approvals{query}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
