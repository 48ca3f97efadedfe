"""``verify``: check every chain in an audit directory and say where the first broken record is.

What it finds, and how it says so:

- **tampered**: a record edited (its hash no longer matches what the next one
  committed to), a line deleted or two swapped (``seq`` out of step), a segment
  or a whole chain removed (a gap in segment numbers, a chain that does not
  start at 0, a link to a chain that is gone), a forged or altered checkpoint
  (bad ``mac``), and, with the checkpoint key, a cut tail: a finished chain
  that ends neither in its final checkpoint nor where a later chain linked it.
- **torn**: a chain whose last line is incomplete. A crash in the middle of a
  write leaves one; that record was never acknowledged.
- **unproven**: everything else is intact, but truncation cannot be proven: no
  checkpoint key was given, or the trail was written without one.
- **intact**: nothing of the above.

A chain still being written (its process holds its segment) is checked up to
its last complete line; its missing final checkpoint is no finding.
Memory stays constant in the number of records: each chain is read once, line
by line, keeping only its running state.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.audit.canonical import GENESIS, record_hash
from gateway.audit.chain import mac_of
from gateway.audit.segments import Segment, chains, is_held
from gateway.jsoncodec import DecodeError, loads

Kind = Literal["tampered", "torn", "unproven"]
Status = Literal["intact", "tampered", "torn", "unproven"]
#: The exit status of ``callgate audit verify`` for each outcome (2 is click's, for a usage error).
EXIT_STATUS: dict[Status, int] = {"intact": 0, "tampered": 1, "torn": 3, "unproven": 4}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    chain: str
    file: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{self.kind}: {where}: {self.problem}"


@dataclass
class ChainState:
    """What one pass over a chain learned: its length, its end, how it closed, what it linked to."""

    chain: str
    segments: int = 0
    records: int = 0
    last_seq: int | None = None
    last_hash: str | None = None
    last_file: str = ""
    last_line: int = 0
    final: bool = False
    signed: bool = False
    live: bool = False
    torn: bool = False
    broken: bool = False
    links: list[dict[str, Any]] = field(default_factory=list)
    links_at: tuple[str, int] = ("", 0)


@dataclass
class Report:
    chains: list[ChainState]
    findings: list[Finding]
    keyed: bool

    @property
    def status(self) -> Status:
        kinds = {finding.kind for finding in self.findings}
        for kind in ("tampered", "unproven", "torn"):
            if kind in kinds:
                return kind
        return "intact"

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.status]

    @property
    def records(self) -> int:
        return sum(chain.records for chain in self.chains)


def verify(directory: Path, key: bytes | None) -> Report:
    """Check every chain in ``directory``; ``key`` is the checkpoint key (None: truncation stays unproven)."""
    found = chains(directory)
    findings: list[Finding] = []
    states = [_walk(chain, segments, key, findings) for chain, segments in found.items()]
    by_id = {state.chain: state for state in states}
    vouched: set[str] = set()
    for state in states:
        for link in state.links:
            target = by_id.get(str(link.get("chain")))
            file, line = state.links_at
            if target is None:
                problem = f"chain {link.get('chain')}, which this chain follows, is missing (removed)"
                findings.append(Finding("tampered", state.chain, file, line, problem))
                continue
            if (target.last_seq, target.last_hash) != (link.get("seq"), link.get("hash")):
                problem = (
                    f"chain {target.chain} ended at seq {link.get('seq')} when this chain began, "
                    f"but now ends at seq {target.last_seq}: records at its end were removed or changed"
                )
                findings.append(Finding("tampered", target.chain, target.last_file, target.last_line, problem))
                continue
            vouched.add(target.chain)
    for state in states:
        _judge_end(state, state.chain in vouched, key, findings)
    return Report(states, findings, key is not None)


def _walk(chain: str, segments: list[Segment], key: bytes | None, findings: list[Finding]) -> ChainState:
    state = ChainState(chain, segments=len(segments), live=is_held(segments[-1].path))
    expected_number = 0
    expected_seq = 0
    prev_hash: str | None = None
    # A hash mismatch at line n means line n-1 was edited, or line n's own prev was: the line after tells.
    suspect: tuple[str, int, str, str, int] | None = None  # line n-1 (file, line), line n (hash, file, line)
    gap: tuple[str, int, int, int] | None = None  # (file, line, seq due, seq found) of a line that skipped ahead

    def tampered(file: str, line: int | None, problem: str) -> None:
        if not state.broken:
            findings.append(Finding("tampered", chain, file, line, problem))
            state.broken = True

    for segment in segments:
        name = segment.path.name
        if segment.number != expected_number:
            missing = f"{expected_number}" if segment.number == expected_number + 1 else f"{expected_number}..."
            tampered(name, 1, f"segment {missing} of this chain is missing (removed)")
        expected_number = segment.number + 1
        with open(segment.path, "rb") as file:
            for number, raw in enumerate(file, start=1):
                if not raw.endswith(b"\n"):
                    state.torn = True
                    if segment is not segments[-1]:
                        findings.append(Finding("torn", chain, name, number, "an incomplete line (a failed write)"))
                    break
                try:
                    record = loads(raw)
                    seq, prev = record["seq"], record["prev"]
                    if record["chain"] != chain:
                        raise ValueError("the record names another chain")
                except (DecodeError, KeyError, TypeError, ValueError):
                    tampered(name, number, "not a record of this chain (edited, or not JSON)")
                    continue
                state.records += 1
                digest = record_hash(record)
                if gap is not None:  # the line before skipped ahead: deleted lines, or this one came early
                    gap_file, gap_line, due, found = gap
                    if seq == due:
                        tampered(gap_file, gap_line, f"seq {found} where {due} was due (lines reordered)")
                    else:
                        tampered(gap_file, gap_line, f"seq {due}..{found - 1} missing before this line (deleted)")
                    gap = None
                if suspect is not None:
                    before_file, before_line, suspect_hash, suspect_file, suspect_line = suspect
                    if prev == suspect_hash:  # line n is what its successor expects: line n-1 changed
                        suspect_file, suspect_line = before_file, before_line
                    tampered(suspect_file, suspect_line, "edited: its hash no longer matches the link after it")
                    suspect = None
                if state.broken:
                    prev_hash, expected_seq = digest, seq + 1 if isinstance(seq, int) else expected_seq
                    _note_end(state, record, digest, name, number)
                    continue
                if seq != expected_seq:
                    if expected_seq == 0:
                        tampered(name, number, f"the chain begins at seq {seq}: its first records were removed")
                    elif isinstance(seq, int) and seq > expected_seq:
                        gap = (name, number, expected_seq, seq)
                    else:
                        tampered(name, number, f"seq {seq} where {expected_seq} was due (lines reordered)")
                elif prev_hash is not None and prev != prev_hash:
                    suspect = (state.last_file, state.last_line, digest, name, number)
                elif prev_hash is None:
                    _check_start(state, record, name, number, tampered)
                if record.get("event") == "audit/checkpoint":
                    _check_checkpoint(state, record, key, name, number, tampered)
                prev_hash, expected_seq = digest, expected_seq + 1
                _note_end(state, record, digest, name, number)
    if gap is not None:
        gap_file, gap_line, due, found = gap
        tampered(gap_file, gap_line, f"seq {due}..{found - 1} missing before this line (deleted)")
    if suspect is not None:
        before_file, before_line, _, suspect_file, suspect_line = suspect
        problem = f"edited, or {suspect_file}:{suspect_line} (the last record) was: the link between them is broken"
        tampered(before_file, before_line, problem)
    return state


def _note_end(state: ChainState, record: dict[str, Any], digest: str, file: str, line: int) -> None:
    state.last_seq, state.last_hash, state.last_file, state.last_line = record.get("seq"), digest, file, line
    checkpoint = record.get("checkpoint")
    state.final = isinstance(checkpoint, dict) and checkpoint.get("final") is True


def _check_start(state: ChainState, record: dict[str, Any], file: str, line: int, tampered: Any) -> None:
    checkpoint = record.get("checkpoint") or {}
    links = checkpoint.get("links") if isinstance(checkpoint, dict) else None
    if record.get("event") != "audit/checkpoint" or not isinstance(links, list):
        tampered(file, line, "the chain does not begin with its start checkpoint")
        return
    state.links, state.links_at = links, (file, line)
    expected = links[0].get("hash") if links and isinstance(links[0], dict) else GENESIS
    if record.get("prev") != expected:
        tampered(file, line, "the start checkpoint's prev is not the end of the chain it follows")


def _check_checkpoint(
    state: ChainState, record: dict[str, Any], key: bytes | None, file: str, line: int, tampered: Any
) -> None:
    mac = record.get("mac")
    state.signed = state.signed or mac is not None
    if key is not None and mac is not None and not hmac.compare_digest(str(mac), mac_of(key, record)):
        tampered(file, line, "checkpoint signature does not match (forged or altered, or another key)")


def _judge_end(state: ChainState, vouched: bool, key: bytes | None, findings: list[Finding]) -> None:
    if state.broken:
        return
    where = (state.chain, state.last_file, state.last_line)
    if state.torn and not state.live:
        findings.append(Finding("torn", *where, "the chain's last line is incomplete (a crash mid-write)"))
    if key is None:
        findings.append(Finding("unproven", *where, "no checkpoint key given: a cut tail cannot be proven"))
        return
    if not state.signed:
        findings.append(Finding("unproven", *where, "written without a checkpoint key: a cut tail cannot be proven"))
        return
    if state.final or vouched or state.live or state.torn:
        return
    problem = (
        "the chain ends without its final checkpoint: its tail was cut, "
        "or its gateway died and none has started on this directory since"
    )
    findings.append(Finding("tampered", *where, problem))
