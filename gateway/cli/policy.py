"""``callgate policy``: check the policy, run its table of expected decisions, explain one decision.

Exit status: 0 when all is well, 1 when the check finds errors or a case
fails, 2 when a file cannot be used at all (the configuration for ``test`` and
``explain``, or the case table).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.options import config_dir_option, load_or_exit
from gateway.config import ConfigError, default_config_dir
from gateway.policy import Decision, PolicyEngine
from gateway.policy.approval import APPROVE_ACTION
from gateway.policy.cases import CaseFileError, load_cases, run_cases
from gateway.policy.check import check_config
from gateway.policy.engine import CALL, LIST
from gateway.policy.explain import principal_for


@click.group()
def policy() -> None:
    """Check, test and explain the authorization policy."""


@policy.command()
@config_dir_option
def check(config_dir: Path | None) -> None:
    """Validate every file, and report rules that can never match, with file and line."""
    findings = check_config(config_dir or default_config_dir())
    for finding in findings:
        where = f"{_shown(finding.file)}:{finding.line}" if finding.line else _shown(finding.file)
        click.echo(f"{where}: {finding.severity}: {finding.message}")
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    if errors:
        click.echo(f"policy check: {errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(1)
    click.echo(f"policy check: ok ({warnings} warning(s))")


@policy.command("test")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_dir_option
def test_cases(file: Path, config_dir: Path | None) -> None:
    """Run the table of cases in FILE: print each failure, then the pass count."""
    engine, config = _engine(config_dir)
    try:
        cases = load_cases(file, config)
    except CaseFileError as exc:
        click.echo(f"callgate: {exc}", err=True)
        sys.exit(2)
    results = run_cases(engine, cases)
    failed = [result for result in results if not result.passed]
    for result in failed:
        case, decision = result.case, result.decision
        expected, got = case.expect, decision.verdict
        click.echo(f"FAIL {_shown(file)}:{case.line}: {case.name}: expected {expected}, got {got} ({decision.reason})")
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    click.echo(summary)
    if failed:
        sys.exit(1)


@policy.command()
@config_dir_option
@click.option("--subject", required=True, help="The caller's subject, e.g. finance-bot.")
@click.option("--tenant", help="The caller's tenant (default: the configured principal's).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="A role the caller holds; repeat for several (default: the configured principal's).",
)
@click.option("--tool", required=True, help="The tool, e.g. billing.issue_refund.")
@click.option(
    "--action",
    type=click.Choice([CALL, LIST, APPROVE_ACTION]),
    default=CALL,
    show_default=True,
    help="call a tool, list it, or approve (decide) a waiting call to it.",
)
@click.option("--args", "arguments", default="{}", show_default=True, help="The call's arguments, a JSON object.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the decision as JSON, as /admin/policy/explain returns it."
)
def explain(
    config_dir: Path | None,
    subject: str,
    tenant: str | None,
    roles: tuple[str, ...],
    tool: str,
    action: str,
    arguments: str,
    as_json: bool,
) -> None:
    """Print the decision for one request, and the rule that decided it."""
    engine, config = _engine(config_dir)
    try:
        parsed = json.loads(arguments)
        if not isinstance(parsed, dict):
            raise ValueError("--args must be a JSON object")
        principal = principal_for(config, subject, tenant, list(roles) if roles else None)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise click.UsageError(str(exc)) from None
    decision = engine.explain(principal, tool, action, parsed)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), indent=2))
        return
    click.echo(_explained(decision, principal.roles, tool in config.tools))


def _explained(decision: Decision, roles: tuple[str, ...], known_tool: bool) -> str:
    lines = [decision.verdict.upper() + f": {decision.reason}"]
    if decision.approval is not None:
        lines[0] += ", once a human approves it"
    if decision.rule is not None:
        lines.append(f"  rule     {decision.rule.where}: {decision.rule.text}")
        lines.append(f"  matched  {_matched(decision)}")
    if decision.approval is not None:
        approval = decision.approval
        lines.append(f"  approval {approval.where}: {approval.rule.text if approval.rule else approval.why}")
    lines.extend(f"  no match {rule.where}: {rule.text}" for rule in decision.considered)
    if decision.subject is not None:
        lines.append(f"  subject  {decision.subject}")
    lines.append(f"  roles    {', '.join(roles) or '(none)'}")
    if not known_tool:
        lines.append(
            "  note     no tool spec defines this tool: the gateway refuses such a call before asking the policy"
        )
    return "\n".join(lines)


def _matched(decision: Decision) -> str:
    """How the deciding rule matched the caller, in words (Decision.matched_as)."""
    if decision.matched_as == "role":
        return f"through role {decision.role}"
    if decision.matched_as == "subject":
        return f"as subject {decision.subject} (a rule, or a g line, naming this very subject)"
    if decision.matched_as == "anyone":
        return "whoever calls (the rule does not depend on the caller)"
    return "by the caller's roles together"


def _engine(config_dir: Path | None) -> tuple[PolicyEngine, Any]:
    config = load_or_exit(config_dir)
    try:
        return PolicyEngine(config), config
    except ConfigError as exc:
        click.echo(f"callgate: configuration error: {exc}", err=True)
        sys.exit(2)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, as people typed it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
