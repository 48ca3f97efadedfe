"""What the tests of gateway/policy share: a writable copy of the shipped configuration, and callers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import Principal
from gateway.config import load_config
from gateway.policy import PolicyEngine
from tests.conftest import REPO_ROOT


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    shutil.copytree(REPO_ROOT / "tool_specs", tmp_path / "tool_specs")
    return tmp_path


def principal(subject: str, *roles: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant=tenant, roles=roles, method="api_key")


def engine(config_dir: Path = REPO_ROOT, **options: Any) -> PolicyEngine:
    return PolicyEngine(load_config(config_dir, env={}), **options)


def with_policy(config_dir: Path, *lines: str) -> Path:
    """``config_dir`` with ``lines`` appended to its policy.csv."""
    policy_file = config_dir / "policies" / "policy.csv"
    policy_file.write_text(policy_file.read_text() + "".join(line + "\n" for line in lines))
    return config_dir
