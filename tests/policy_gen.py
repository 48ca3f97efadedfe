"""Large policies for tests and benchmarks: the shipped rules buried under generated ones.

``write_policy(config_dir, 10_000)`` rewrites ``config_dir/policies/policy.csv``
(a copy of the shipped configuration) to exactly that many rules. The shipped
rules come last, so a cold decision must read every generated rule first, and
every decision the shipped policy gives (``policies/tests.yaml``) still holds:
generated rules name roles, tenants and tools of their own. One in ten carries
a condition, so conditions are parsed and planned at scale too.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.conftest import REPO_ROOT

#: The condition every tenth generated rule carries (on an argument of its own tool).
GENERATED_CONDITION = 'r.args.amount <= {limit} && r.args.currency in ("EUR", "USD")'


def shipped_rules() -> list[str]:
    """The rules (not comments) of the shipped ``policies/policy.csv``."""
    text = (REPO_ROOT / "policies" / "policy.csv").read_text(encoding="utf-8")
    return [line for line in map(str.strip, text.splitlines()) if line and not line.startswith("#")]


def generated_rules(count: int, *, seed: int = 0) -> list[str]:
    """``count`` rules for roles ``role-<n>`` in tenants ``tenant-<n>`` on tools ``generated.<n>.*``."""
    chooser = random.Random(seed)
    rules = []
    for index in range(count):
        role = f"role-{chooser.randrange(500)}"
        tenant = f"tenant-{chooser.randrange(50)}"
        tool = f"generated.{index}.tool" if index % 7 else f"generated.{index}.*"
        effect = "deny" if index % 13 == 0 else "allow"
        rule = f"p, {role}, {tenant}, {tool}, call, {effect}"
        if index % 10 == 0:
            rule += ", " + GENERATED_CONDITION.format(limit=chooser.randrange(1, 10_000))
        rules.append(rule)
    return rules


def write_policy(config_dir: Path, lines: int, *, seed: int = 0) -> None:
    """Make ``config_dir/policies/policy.csv`` hold ``lines`` rules: generated ones, then the shipped ones."""
    shipped = shipped_rules()
    if lines < len(shipped):
        raise ValueError(f"a policy of {lines} rules cannot hold the {len(shipped)} shipped ones")
    rules = [*generated_rules(lines - len(shipped), seed=seed), *shipped]
    header = f"# Generated: {lines} rules, the shipped ones last (tests/policy_gen.py).\n"
    (config_dir / "policies" / "policy.csv").write_text(header + "\n".join(rules) + "\n", encoding="utf-8")
