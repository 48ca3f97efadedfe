"""Authentication and authorization costs that grow with configuration: JWTs, and policies of many lines.

``authorize`` rows load copies of the configuration whose policy.csv has grown to N lines (rules for
roles and tools nobody uses, as a large organisation's policy would have), then time the engine's
first decision (nothing cached) and a warm one. ``authenticate`` rows time the full authenticator the
gateway builds: an API key, a JWT verified for the first time, and the same JWT again (verified
tokens are remembered until they expire).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gateway.auth import Principal
from gateway.auth.authenticator import build_authenticator
from gateway.config import Config, load_config
from gateway.demo.tokens import mint_demo_token
from gateway.policy import PolicyEngine

POLICY_SIZES = (1_000, 10_000)
_FRESH = 5


def _median_us(function: Callable[[], object], repeat: int = _FRESH) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def _warm_us(function: Callable[[], object], number: int = 20_000) -> float:
    function()
    started = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - started) / number * 1e6


def authenticate_rows(config: Config, api_key: str) -> list[tuple[str, str, float]]:
    authenticator = build_authenticator(config.gateway)
    key_headers = {"authorization": f"Bearer {api_key}"}
    # Minted before timing (signing is the identity provider's work); each is then verified for the first time.
    tokens = iter([mint_demo_token(config, f"bench-agent-{n}", roles=["support-agent"]) for n in range(_FRESH)])
    first = _median_us(lambda: authenticator.authenticate({"authorization": f"Bearer {next(tokens)}"}))
    token = mint_demo_token(config, "bench-agent", roles=["support-agent"])
    token_headers = {"authorization": f"Bearer {token}"}
    key_us = _warm_us(lambda: authenticator.authenticate(key_headers))
    repeat_us = _warm_us(lambda: authenticator.authenticate(token_headers))
    return [
        ("authenticate", "API key, with JWT issuers configured", key_us),
        ("authenticate", "JWT (RS256), first verification of a token", first),
        ("authenticate", "JWT (RS256), the same token again", repeat_us),
    ]


def authorize_rows(repo_root: Path) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    for size in POLICY_SIZES:
        with tempfile.TemporaryDirectory(prefix="callgate-bench-policy-") as tmp:
            rows += _authorize_rows_for(load_config(_grown_copy(repo_root, Path(tmp), size), env={}), size)
    return rows


def _authorize_rows_for(config: Config, size: int) -> list[tuple[str, str, float]]:
    support = Principal("support-bot", "acme", ("support-agent",), method="api_key")
    finance = Principal("finance-bot", "acme", ("finance-agent",), method="api_key")
    refund = {"customer_id": "C1001", "amount": 120, "currency": "EUR"}
    firsts = []
    for _ in range(_FRESH):
        fresh = PolicyEngine(config)
        started = time.perf_counter()
        fresh.allows(support, "crm.get_customer", "call")
        firsts.append((time.perf_counter() - started) * 1e6)
    engine = PolicyEngine(config)
    return [
        ("authorize", f"{size:,}-line policy: first decision (nothing cached)", statistics.median(firsts)),
        (
            "authorize",
            f"{size:,}-line policy: warm decision",
            _warm_us(lambda: engine.allows(support, "crm.get_customer", "call")),
        ),
        (
            "authorize",
            f"{size:,}-line policy: warm decision with an argument condition",
            _warm_us(lambda: engine.allows(finance, "billing.issue_refund", "call", refund)),
        ),
    ]


def _grown_copy(repo_root: Path, target: Path, lines: int) -> Path:
    shutil.copytree(repo_root / "policies", target / "policies")
    shutil.copytree(repo_root / "tool_specs", target / "tool_specs")
    policy = target / "policies" / "policy.csv"
    shipped = policy.read_text()
    extra = lines - sum(1 for line in shipped.splitlines() if line.strip() and not line.startswith("#"))
    filler = "".join(f"p, team-{n % 97}, tenant-{n % 13}, svc{n}.op, call, allow\n" for n in range(max(extra, 0)))
    policy.write_text(shipped + filler)
    return target
