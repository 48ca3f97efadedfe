"""``callgate approvals list|show|approve|deny``: an approver decides waiting calls on a running gateway.

Talks to ``/admin/approvals`` of the gateway at ``--url`` with the approver's API key (or JWT) from the
environment variable ``--key-env`` names, so the key never shows in a process list or shell history.
Prints for people by default, JSON with ``--json``. Exit status: 0 done, 1 the gateway refused (the
reason is printed: ``approval.self``, ``approval.conflict``...), 2 no key or no gateway.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import httpx

_ENDPOINT = "/admin/approvals"

url_option = click.option(
    "--url", default="http://127.0.0.1:8700", envvar="CALLGATE_URL", show_default=True, help="The gateway."
)
key_option = click.option(
    "--key-env", required=True, metavar="VAR", help="Environment variable holding the approver's API key or JWT."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON answer.")
reason_option = click.option("--reason", default=None, help="Why (kept with the request; never in the audit trail).")


@click.group()
def approvals() -> None:
    """Decide the calls that wait for a human's approval (for approvers)."""


@approvals.command("list")
@url_option
@key_option
@click.option("--all", "everything", is_flag=True, help="Decided and expired requests too, not only pending ones.")
@json_option
def list_(url: str, key_env: str, everything: bool, as_json: bool) -> None:
    """The requests of your tenant you may decide, newest first."""
    answer = _call("GET", url, key_env, _ENDPOINT + ("?all=1" if everything else ""))
    if as_json:
        _print_json(answer)
        return
    found = answer["approvals"]
    if not found:
        click.echo("no requests waiting" if not everything else "no requests")
        return
    rows = [("ID", "STATUS", "TOOL", "REQUESTER", "EXPIRES IN", "REQUIRED BY")]
    rows += [(a["approval_id"], a["status"], a["tool"], a["subject"], _expiry(a), a["required_by"]) for a in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@approvals.command()
@click.argument("approval_id")
@url_option
@key_option
@json_option
def show(approval_id: str, url: str, key_env: str, as_json: bool) -> None:
    """One request: who asks, for which call, why it waits, and its arguments as your role may see them."""
    answer = _call("GET", url, key_env, f"{_ENDPOINT}/{approval_id}")
    if as_json:
        _print_json(answer)
    else:
        click.echo(_described(answer))


@approvals.command()
@click.argument("approval_id")
@url_option
@key_option
@reason_option
@json_option
def approve(approval_id: str, url: str, key_env: str, reason: str | None, as_json: bool) -> None:
    """Approve a request: the agent's next repeat of the call runs it, once."""
    _decide("approve", approval_id, url, key_env, reason, as_json)


@approvals.command()
@click.argument("approval_id")
@url_option
@key_option
@reason_option
@json_option
def deny(approval_id: str, url: str, key_env: str, reason: str | None, as_json: bool) -> None:
    """Deny a request: the agent's next repeat of the call is refused (approval.denied)."""
    _decide("deny", approval_id, url, key_env, reason, as_json)


def _decide(verb: str, approval_id: str, url: str, key_env: str, reason: str | None, as_json: bool) -> None:
    body = {"reason": reason} if reason is not None else None
    answer = _call("POST", url, key_env, f"{_ENDPOINT}/{approval_id}/{verb}", body)
    if as_json:
        _print_json(answer)
        return
    done = "approved" if verb == "approve" else "denied"
    then = "the agent's next repeat of the call runs it, once" if verb == "approve" else "the call will not run"
    click.echo(f"{done} {answer['approval_id']}: {answer['tool']} for {answer['subject']}; {then}")


def _call(method: str, url: str, key_env: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    key = os.environ.get(key_env)
    if not key:
        click.echo(f"callgate: environment variable {key_env} holds no key", err=True)
        sys.exit(2)
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        click.echo(f"callgate: cannot reach the gateway at {url}: {type(exc).__name__}", err=True)
        sys.exit(2)
    try:
        answer = response.json()
    except ValueError:
        click.echo(f"callgate: the gateway answered HTTP {response.status_code} without JSON", err=True)
        sys.exit(2)
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code >= 400 or isinstance(error, dict):
        details: dict[str, Any] = error if isinstance(error, dict) else {}
        data: dict[str, Any] = details["data"] if isinstance(details.get("data"), dict) else {}
        reason = data.get("reason", f"HTTP {response.status_code}")
        status = f" (the request is {data['status']})" if "status" in data else ""
        click.echo(f"callgate: refused: {reason}: {details.get('message', '')}{status}", err=True)
        sys.exit(1)
    if not isinstance(answer, dict):
        click.echo("callgate: the gateway answered something unexpected", err=True)
        sys.exit(2)
    return answer


def _described(approval: dict[str, Any]) -> str:
    roles = ", ".join(approval["roles"]) or "no roles"
    behalf = f", on behalf of {approval['on_behalf_of']}" if approval.get("on_behalf_of") else ""
    status = approval["status"]
    if status == "pending":
        status += f", expires {approval['expires_at']} (in {_duration(approval['expires_in_s'])})"
    lines = [
        f"approval   {approval['approval_id']}: {status}",
        f"tool       {approval['tool']}",
        f"requester  {approval['subject']} (tenant {approval['tenant']}, {roles}{behalf}) at {approval['created_at']}",
        f"why        {approval['required_by']}",
    ]
    arguments = approval.get("arguments")
    if arguments is not None:
        lines.append("arguments")
        lines.extend(f"  {name}: {json.dumps(value, ensure_ascii=False)}" for name, value in arguments.items())
    elif approval.get("arguments_withheld"):
        lines.append(f"arguments  not shown: {approval['arguments_withheld']}")
    decision = approval.get("decision")
    if decision is not None:
        because = f": {decision['reason']}" if decision.get("reason") else ""
        lines.append(f"decision   {decision['decision']} by {decision['by']} at {decision['at']}{because}")
    if approval.get("executed_at"):
        lines.append(f"executed   {approval['executed_at']}")
    return "\n".join(lines)


def _expiry(approval: dict[str, Any]) -> str:
    """How long a request may still be decided (and its approval used); ``-`` once that no longer matters."""
    return _duration(approval["expires_in_s"]) if approval["status"] in ("pending", "approved") else "-"


def _duration(seconds: int) -> str:
    if seconds <= 0:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
