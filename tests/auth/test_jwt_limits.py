"""What an issuer may grant: allowed_roles, its tenants and max_token_lifetime_s (gateway/auth/jwt.py).

A verified token that claims more than its issuer may grant is refused as a
whole with the same 401 as every other bad token, never trimmed to what is
allowed; ``Unauthenticated.detail`` says which bound it crossed, for the audit
trail. The shipped demo issuer signs with a published private key, so it may
grant only the three agent roles, in acme, for an hour at most.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import JwtAuthenticator
from gateway.config import load_config
from gateway.config.jwt_issuers import jwt_issuers
from gateway.errors import Unauthenticated
from gateway.policy.check import check_config
from tests.auth.conftest import edit_gateway_yaml
from tests.auth.test_jwt import DEMO, HS, HS_SECRET, RESOURCE, assert_refused, authenticator, post_rpc
from tests.auth.tokens import claims, demo_token, sign
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway

YEAR_S = 365 * 86_400
BOUNDED = {**DEMO, "allowed_roles": ["support-agent", "reader"], "tenants": ["acme", "globex"]}


def refusal(entry: dict[str, Any], token: str) -> str | None:
    """The detail of the refusal of ``token`` by an authenticator for ``entry``."""
    with pytest.raises(Unauthenticated) as caught:
        authenticator(entry).authenticate(token)
    assert caught.value.message == "Invalid token"
    return caught.value.detail


def at(now: float, entry: dict[str, Any]) -> JwtAuthenticator:
    """An authenticator for ``entry`` whose wall clock stands still at ``now``."""
    return JwtAuthenticator(jwt_issuers([entry], REPO_ROOT, {}, RESOURCE), wall_clock=lambda: now)


# Through a real gateway with the shipped configuration


def test_demo_token_claiming_admin_is_refused(gateway: RunningGateway) -> None:
    """Anyone can sign with the published demo key: an admin token from it must not open every tool."""
    params = {"name": "billing.issue_refund", "arguments": {"customer_id": "C1001", "amount": 9000, "currency": "EUR"}}
    assert_refused(post_rpc(gateway, demo_token(sub="ops-admin", roles=["admin"]), "tools/call", params))


def test_demo_token_with_an_allowed_and_a_forbidden_role_is_refused_not_trimmed(gateway: RunningGateway) -> None:
    """Trimmed to support-agent it would list support's tools; refused, it lists nothing."""
    assert_refused(post_rpc(gateway, demo_token(roles=["support-agent", "admin"])))
    assert_refused(post_rpc(gateway, demo_token(roles="support-agent admin")))


def test_demo_token_for_another_tenant_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(tenant="globex")))


def test_demo_token_valid_for_31_years_is_refused(gateway: RunningGateway) -> None:
    now = int(time.time())
    assert_refused(post_rpc(gateway, demo_token(iat=now, exp=now + 31 * YEAR_S)))


def test_demo_token_without_iat_expiring_far_ahead_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(iat=None, exp=int(time.time()) + 2 * 3600)))


def test_demo_tokens_within_the_bounds_are_accepted(gateway: RunningGateway) -> None:
    now = int(time.time())
    params = {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}
    for token in (
        demo_token(iat=now, exp=now + 3600),  # exactly the shipped cap
        demo_token(iat=None, exp=now + 1800),
        demo_token(sub="finance-bot", roles=["finance-agent"]),
    ):
        response = post_rpc(gateway, token, "tools/call", params)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["structuredContent"]["name"] == "Ada Lovelace"


# Through a real gateway with bounds of its own


def test_an_hs256_issuers_bounds_hold_through_a_gateway(start_gateway: GatewayFactory, config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy, {**HS, "allowed_roles": ["sales-agent"], "tenants": ["globex"], "max_token_lifetime_s": 600}
    )
    gateway = start_gateway(config_copy, TEST_JWT_SECRET=HS_SECRET)
    secret = HS_SECRET.encode()
    now = int(time.time())

    def hs_token(**overrides: Any) -> str:
        wanted = {"iss": "https://hs.test", "roles": ["sales-agent"], "tenant": "globex", **overrides}
        return sign(claims(**wanted), secret, "HS256")

    assert post_rpc(gateway, hs_token()).status_code == 200
    assert_refused(post_rpc(gateway, hs_token(roles=["support-agent"])))
    assert_refused(post_rpc(gateway, hs_token(tenant="acme")))
    assert_refused(post_rpc(gateway, hs_token(iat=now, exp=now + 601)))


# Roles, unit by unit


def test_a_role_outside_allowed_roles_refuses_the_token() -> None:
    for roles in (["admin"], ["support-agent", "admin"], "reader,admin"):
        assert refusal(BOUNDED, demo_token(roles=roles)) == "jwt.role_not_allowed"


def test_roles_within_allowed_roles_map_unchanged() -> None:
    assert authenticator(BOUNDED).authenticate(demo_token(roles="support-agent reader")).roles == (
        "support-agent",
        "reader",
    )
    assert authenticator(BOUNDED).authenticate(demo_token(roles=None)).roles == ()


def test_empty_allowed_roles_accepts_only_tokens_without_roles() -> None:
    entry = {**DEMO, "allowed_roles": []}
    assert authenticator(entry).authenticate(demo_token(roles=[])).roles == ()
    assert refusal(entry, demo_token(roles=["support-agent"])) == "jwt.role_not_allowed"


def test_without_allowed_roles_any_plain_role_is_granted() -> None:
    assert authenticator(DEMO).authenticate(demo_token(roles=["admin"])).roles == ("admin",)


# Tenants


def test_a_tenant_outside_tenants_refuses_the_token() -> None:
    assert refusal(BOUNDED, demo_token(tenant="initech")) == "jwt.tenant_not_allowed"
    assert authenticator(BOUNDED).authenticate(demo_token(tenant="globex")).tenant == "globex"


def test_tenants_needs_the_tenant_claim() -> None:
    assert refusal(BOUNDED, demo_token(tenant=None)) == "jwt.claim_invalid"


# Lifetime


def test_lifetime_from_iat_may_reach_the_cap_but_not_pass_it() -> None:
    now = time.time()
    entry = {**DEMO, "max_token_lifetime_s": 600}
    issued = int(now)
    assert at(now, entry).authenticate(demo_token(iat=issued, exp=issued + 600)).subject == "support-bot"
    with pytest.raises(Unauthenticated) as caught:
        at(now, entry).authenticate(demo_token(iat=issued, exp=issued + 601))
    assert caught.value.detail == "jwt.lifetime_too_long"


def test_a_backdated_iat_does_not_hide_a_long_lifetime() -> None:
    """exp - iat is the lifetime the issuer granted, however little of it is left."""
    now = int(time.time())
    assert refusal(DEMO, demo_token(iat=now - 31 * YEAR_S, exp=now + 60)) == "jwt.lifetime_too_long"


def test_without_iat_exp_may_lie_at_most_the_cap_plus_leeway_ahead() -> None:
    now = float(int(time.time()))
    entry = {**DEMO, "max_token_lifetime_s": 600, "leeway_s": 30}
    assert at(now, entry).authenticate(demo_token(iat=None, exp=int(now) + 630)).subject == "support-bot"
    with pytest.raises(Unauthenticated) as caught:
        at(now, entry).authenticate(demo_token(iat=None, exp=int(now) + 631))
    assert caught.value.detail == "jwt.lifetime_too_long"


def test_default_cap_is_a_day() -> None:
    now = int(time.time())
    assert authenticator(DEMO).authenticate(demo_token(iat=now, exp=now + 86_400)).subject == "support-bot"
    assert refusal(DEMO, demo_token(iat=now, exp=now + 86_401)) == "jwt.lifetime_too_long"


# What the refusal says, and to whom


def test_refusal_detail_and_debug_log_name_the_bound_but_not_the_token(caplog: pytest.LogCaptureFixture) -> None:
    token = demo_token(roles=["admin"], tenant="acme")
    with caplog.at_level(logging.DEBUG, logger="callgate.auth.jwt"), pytest.raises(Unauthenticated) as caught:
        authenticator(BOUNDED).authenticate(token)
    assert caught.value.detail == "jwt.role_not_allowed"
    assert str(caught.value) == "Invalid token"  # the caller learns nothing of which bound it was
    (record,) = caplog.records
    assert "jwt.role_not_allowed" in record.getMessage() and "allowed_roles" in record.getMessage()
    assert token not in record.getMessage() and token.split(".")[2] not in record.getMessage()


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (lambda: demo_token(aud="https://other.example"), "jwt.invalid"),
        (lambda: demo_token(iat=int(time.time()) - 600, exp=int(time.time()) - 120), "jwt.expired"),
        (lambda: demo_token(sub="a b"), "jwt.claim_invalid"),
    ],
    ids=["audience", "expired", "subject"],
)
def test_other_refusals_carry_a_detail_too(token: Any, detail: str) -> None:
    assert refusal(DEMO, token()) == detail


# policy check


def test_policy_check_warns_about_an_issuer_without_bounds_with_its_line(config_copy: Path) -> None:
    unbounded = {
        "issuer": "https://rs.test",
        "algorithms": ["RS256"],
        "public_key_file": "policies/demo-jwt-public.pem",
    }
    path = edit_gateway_yaml(config_copy, unbounded, {**unbounded, "issuer": "https://rs2.test", "tenant": "acme"})
    line = _line_of(path, "issuer: https://rs.test")
    findings = [(f.severity, f.file, f.line, f.message) for f in check_config(config_copy) if "JWT issuer" in f.message]
    assert findings == [
        ("warning", path, line, "JWT issuer 'https://rs.test' has no allowed_roles: its tokens may claim any role"),
        (
            "warning",
            path,
            line,
            "JWT issuer 'https://rs.test' has no tenant or tenants: its tokens may claim any tenant",
        ),
        (
            "warning",
            path,
            _line_of(path, "issuer: https://rs2.test"),
            "JWT issuer 'https://rs2.test' has no allowed_roles: its tokens may claim any role",
        ),
    ]


def test_policy_check_reports_the_issuer_warning_with_file_and_line(config_copy: Path) -> None:
    path = edit_gateway_yaml(config_copy, {**DEMO, "issuer": "https://rs.test", "allowed_roles": ["support-agent"]})
    command = [sys.executable, "-m", "gateway", "policy", "check", "--config-dir", str(config_copy)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr  # a warning, not an error
    line = _line_of(path, "issuer: https://rs.test")
    assert (
        f"policies/gateway.yaml:{line}: warning: JWT issuer 'https://rs.test' has no tenant or tenants" in result.stdout
    )


def test_the_shipped_demo_issuer_is_bounded() -> None:
    (issuer,) = load_config(REPO_ROOT, env={}).gateway.jwt
    assert issuer.allowed_roles == ("support-agent", "sales-agent", "finance-agent")
    assert (issuer.tenant, issuer.tenants, issuer.max_token_lifetime_s) == (None, ("acme",), 3600)
    assert not [finding for finding in check_config(REPO_ROOT) if "JWT issuer" in finding.message]


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)
