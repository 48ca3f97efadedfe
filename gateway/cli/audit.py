"""``callgate audit``: verify the trail's chains, export its records.

``verify`` exit status: 0 intact, 1 tampered (an edit, a deletion, a reorder,
a removed segment or chain, a cut tail), 3 only a torn tail (a crash
mid-write), 4 intact as far as it can tell but truncation cannot be proven (no
checkpoint key, or a trail written without one); 2 for a usage error or a
directory without segments. The checkpoint key is read from
``CALLGATE_AUDIT_CHECKPOINT_KEY``, as the gateway reads it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from gateway.audit.chain import CHECKPOINT_KEY_VARIABLE, checkpoint_key
from gateway.audit.export import FORMATS, Filters, export, instant
from gateway.audit.segments import chains
from gateway.audit.verify import verify as verify_trail
from gateway.cli.options import config_dir_option, load_or_exit
from gateway.keyfiles import KeyProblem

_SUMMARY = {
    "intact": "intact",
    "tampered": "TAMPERED",
    "torn": "intact but for a torn tail (a crash mid-write; that record was never acknowledged)",
    "unproven": f"intact as far as the chain shows; truncation cannot be proven (no key in {CHECKPOINT_KEY_VARIABLE})",
}


@click.group()
def audit() -> None:
    """Verify and export the audit trail."""


def _directory(directory: Path | None, config_dir: Path | None) -> Path:
    return directory if directory is not None else load_or_exit(config_dir).gateway.audit.dir


@audit.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@config_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object: status, findings, chains.")
def verify(directory: Path | None, config_dir: Path | None, as_json: bool) -> None:
    """Check every chain in DIRECTORY (default: the configured audit.dir)."""
    directory = _directory(directory, config_dir)
    if not chains(directory):
        click.echo(f"callgate: no audit segments in {directory}", err=True)
        sys.exit(2)
    try:
        key = checkpoint_key(os.environ)
    except KeyProblem as exc:
        click.echo(f"callgate: {exc}", err=True)
        sys.exit(2)
    report = verify_trail(directory, key)
    if as_json:
        body = {
            "status": report.status,
            "records": report.records,
            "findings": [
                {"kind": f.kind, "chain": f.chain, "file": f.file, "line": f.line, "problem": f.problem}
                for f in report.findings
            ],
            "chains": [
                {"chain": c.chain, "segments": c.segments, "records": c.records, "live": c.live, "final": c.final}
                for c in report.chains
            ],
        }
        click.echo(json.dumps(body, indent=2))
    else:
        for finding in report.findings:
            click.echo(str(finding))
        click.echo(
            f"{report.records} records in {len(report.chains)} chain{'' if len(report.chains) == 1 else 's'}: "
            + _SUMMARY[report.status],
            err=report.status == "tampered",
        )
    sys.exit(report.exit_status)


@audit.command(name="export")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@config_dir_option
@click.option("--format", "format_", type=click.Choice(list(FORMATS)), default="jsonl", show_default=True)
@click.option("--since", help="Records at or after this ISO 8601 time (a date alone: its midnight UTC).")
@click.option("--until", help="Records before this ISO 8601 time.")
@click.option("--subject", help="Only this subject's records.")
@click.option("--tenant", help="Only this tenant's records.")
@click.option("--tool", help="Only calls of this tool.")
@click.option("--decision", type=click.Choice(["allowed", "refused", "failed", "tool_error", "cancelled"]))
@click.option("--conversation", help="Only one agent task's records (its callgate/conversation_id).")
def export_command(
    directory: Path | None,
    config_dir: Path | None,
    format_: str,
    since: str | None,
    until: str | None,
    subject: str | None,
    tenant: str | None,
    tool: str | None,
    decision: str | None,
    conversation: str | None,
) -> None:
    """Write DIRECTORY's records (default: the configured audit.dir) to standard output, oldest first."""
    directory = _directory(directory, config_dir)
    try:
        filters = Filters(
            since=instant(since) if since else None,
            until=instant(until) if until else None,
            subject=subject,
            tenant=tenant,
            tool=tool,
            decision=decision,
            conversation=conversation,
        )
    except ValueError:
        raise click.BadParameter("--since and --until take ISO 8601 times") from None
    out = sys.stdout.buffer
    for line in export(directory, format_, filters):  # type: ignore[arg-type]
        out.write(line)
    out.flush()
