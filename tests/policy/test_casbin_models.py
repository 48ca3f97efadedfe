"""Casbin's own example models and policies load unchanged and give Casbin's answers.

callgate keeps subjects out of the role graph (gateway/policy/subjects.py): in
a model with roles, ``r.sub`` is ``user:NAME``. Casbin's RBAC examples put
users and roles in one graph (``alice`` is a node like ``data2_admin``). So
Casbin's request for a graph node N is, in callgate, a caller holding N as a
role (an API key's ``roles: [N]``, a token's role claim); and callgate's
request for a subject N is Casbin's request for ``user:N``. Both are checked
against a plain ``casbin.Enforcer`` over the same unchanged files. A subject
named like a node and holding no roles gets nothing: that is the point (Casbin
would give a user named ``admin`` every right of the role ``admin``).
The ACL example (no ``g``) sees the plain subject, as Casbin does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import casbin
import pytest

from gateway.auth import Principal
from gateway.config import load_config
from gateway.policy import PolicyEngine
from tests.conftest import REPO_ROOT

MODELS = REPO_ROOT / "tests" / "policy_models"
NAMES = ["basic", "rbac", "rbac_with_domains", "rbac_with_deny", "abac"]


def example_config(config_copy: Path, name: str) -> Path:
    """A config dir whose model.conf and policy.csv are Casbin's example files, unchanged."""
    shutil.copyfile(MODELS / name / f"{name}_model.conf", config_copy / "policies" / "model.conf")
    policy = MODELS / name / f"{name}_policy.csv"
    if policy.exists():
        shutil.copyfile(policy, config_copy / "policies" / "policy.csv")
    else:
        (config_copy / "policies" / "policy.csv").write_text("")
    return config_copy


#: (model, subject, roles, tenant, object, action, expected): Casbin's documented answers for these examples,
#: with each RBAC request's graph node held as a role, and what a subject of the same name alone gets.
EXAMPLE_DECISIONS = [
    ("basic", "alice", (), "acme", "data1", "read", True),
    ("basic", "alice", (), "acme", "data1", "write", False),
    ("basic", "alice", (), "acme", "data2", "read", False),
    ("basic", "bob", (), "acme", "data2", "write", True),
    ("basic", "bob", (), "acme", "data1", "read", False),
    ("rbac", "agent", ("alice",), "acme", "data1", "read", True),
    ("rbac", "agent", ("alice",), "acme", "data2", "read", True),
    ("rbac", "agent", ("alice",), "acme", "data2", "write", True),
    ("rbac", "agent", ("bob",), "acme", "data2", "read", False),
    ("rbac", "agent", ("bob",), "acme", "data2", "write", True),
    ("rbac", "carol", ("data2_admin",), "acme", "data2", "read", True),
    ("rbac", "alice", (), "acme", "data1", "read", False),
    ("rbac", "data2_admin", (), "acme", "data2", "read", False),
    ("rbac_with_domains", "agent", ("alice",), "domain1", "data1", "read", True),
    ("rbac_with_domains", "agent", ("alice",), "domain1", "data2", "read", False),
    ("rbac_with_domains", "agent", ("alice",), "domain2", "data2", "read", False),
    ("rbac_with_domains", "agent", ("bob",), "domain2", "data2", "write", True),
    ("rbac_with_domains", "agent", ("bob",), "domain1", "data1", "write", False),
    ("rbac_with_domains", "carol", ("admin",), "domain1", "data1", "read", True),
    ("rbac_with_domains", "carol", ("admin",), "domain2", "data2", "read", True),
    ("rbac_with_domains", "admin", (), "domain1", "data1", "read", False),
    ("rbac_with_domains", "admin", (), "domain2", "data2", "write", False),
    ("rbac_with_deny", "agent", ("alice",), "acme", "data1", "read", True),
    ("rbac_with_deny", "agent", ("alice",), "acme", "data2", "read", True),
    ("rbac_with_deny", "agent", ("alice",), "acme", "data2", "write", False),
    ("rbac_with_deny", "agent", ("bob",), "acme", "data2", "write", True),
    ("rbac_with_deny", "carol", ("data2_admin",), "acme", "data2", "write", True),
    ("rbac_with_deny", "data2_admin", (), "acme", "data2", "write", False),
    # The gateway's r.obj is a tool name, which has no Owner: the ABAC rule cannot hold, and the error denies.
    ("abac", "alice", (), "acme", "data1", "read", False),
]


@pytest.mark.parametrize(("name", "subject", "roles", "tenant", "obj", "action", "expected"), EXAMPLE_DECISIONS)
def test_casbin_example_models_load_unchanged_and_give_casbins_answers(
    config_copy: Path,
    name: str,
    subject: str,
    roles: tuple[str, ...],
    tenant: str,
    obj: str,
    action: str,
    expected: bool,
) -> None:
    policy = PolicyEngine(load_config(example_config(config_copy, name), env={}))
    assert policy.allows(Principal(subject, tenant, roles, method="api_key"), obj, action) is expected


@pytest.mark.parametrize("name", NAMES)
def test_decisions_agree_with_casbins_own_enforce(config_copy: Path, name: str) -> None:
    """Every request over the examples' names, tenants, objects, actions: the answer of a plain casbin.Enforcer."""
    config = load_config(example_config(config_copy, name), env={})
    policy = PolicyEngine(config)
    reference = casbin.Enforcer(str(config.model_path), str(config.policy_path))
    with_tenant = len(policy.matcher.fields) == 4
    for node in ("alice", "bob", "data2_admin", "admin", "nobody"):
        for tenant in ("domain1", "domain2"):
            for obj in ("data1", "data2"):
                for action in ("read", "write"):
                    rest = (tenant, obj, action) if with_tenant else (obj, action)
                    as_subject = Principal(node, tenant, (), method="api_key")
                    if policy.matcher.has_roles:
                        holding = Principal("agent", tenant, (node,), method="api_key")
                        assert policy.allows(holding, obj, action) == _enforce(reference, node, *rest), (node, rest)
                        expected = _enforce(reference, f"user:{node}", *rest)
                        assert policy.allows(as_subject, obj, action) == expected, (node, rest)
                    else:
                        assert policy.allows(as_subject, obj, action) == _enforce(reference, node, *rest), (node, rest)


def test_only_models_with_a_role_definition_keep_subjects_apart(config_copy: Path) -> None:
    """Casbin's ACL example compares r.sub with p.sub: the plain subject, no prefix."""
    expected = {"basic": False, "abac": False, "rbac": True, "rbac_with_domains": True, "rbac_with_deny": True}
    for name, has_roles in expected.items():
        policy = PolicyEngine(load_config(example_config(config_copy, name), env={}))
        assert policy.matcher.has_roles is has_roles, name
        assert policy.explain(Principal("alice", "acme", (), method="api_key"), "data1", "read").subject == (
            "user:alice" if has_roles else "alice"
        )


def _enforce(enforcer: Any, *request: Any) -> bool:
    try:
        return bool(enforcer.enforce(*request))
    except Exception:  # casbin raises where callgate denies
        return False
