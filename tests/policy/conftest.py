"""What the tests of gateway/policy share: the shipped tools and who may call them, callers, engines, edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.auth import Principal
from gateway.config import load_config
from gateway.policy import PolicyEngine
from tests.conftest import REPO_ROOT

TOOLS = sorted(load_config(REPO_ROOT, env={}).tools)
REFUND = {"customer_id": "C1001", "amount": 120, "currency": "EUR"}
#: The tools each demo role may call (the refund within its condition); every other tool is denied.
MAY_CALL = {
    "support-agent": {"crm.get_customer", "docs.search", "calendar.list_events", "clock.now"},
    "sales-agent": {
        "crm.get_customer",
        "crm.update_email",
        "calendar.create_event",
        "calendar.list_events",
        "docs.search",
        "reports.daily",
        "clock.now",
    },
    "finance-agent": {"crm.get_customer", "billing.issue_refund", "reports.daily"},
    "admin": set(TOOLS),
}


def principal(subject: str, *roles: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant=tenant, roles=roles, method="api_key")


def engine(config_dir: Path = REPO_ROOT, **options: Any) -> PolicyEngine:
    return PolicyEngine(load_config(config_dir, env={}), **options)


def with_policy(config_dir: Path, *lines: str) -> Path:
    """``config_dir`` with ``lines`` appended to its policy.csv."""
    policy_file = config_dir / "policies" / "policy.csv"
    policy_file.write_text(policy_file.read_text() + "".join(line + "\n" for line in lines))
    return config_dir


def refund(amount: Any = 120, currency: Any = "EUR", **more: Any) -> dict[str, Any]:
    return {"customer_id": "C1001", "amount": amount, "currency": currency, **more}
