"""One hash chain per gateway process, its signed checkpoints, and where it links to the chains before it.

Each record carries ``chain`` (this process's chain id), ``seq`` (0, 1, 2...)
and ``prev``: the hash of the previous record's canonical JSON. Editing,
deleting or reordering a record breaks the next link.

A chain starts with an ``audit/checkpoint`` (reason ``start``) whose ``links``
name the end (last ``seq`` and hash) of every finished chain in the directory
that no chain had linked yet, and whose ``prev`` is the first of those hashes:
a whole segment or chain removed later no longer matches what was linked.

Checkpoints come every N records or T seconds, at rotation and at shutdown
(``final``). With ``CALLGATE_AUDIT_CHECKPOINT_KEY`` set each carries ``mac``,
an HMAC-SHA256 over its canonical JSON: since ``prev`` commits to everything
before it, a valid checkpoint vouches for the whole chain up to it, and a chain
that does not end in a final checkpoint (nor is vouched for by a successor's
``links``) lost its tail. The key comes from the environment only: a key file
beside the trail would let whoever edits the trail sign it again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.audit.canonical import GENESIS, canonical, digest_of, record_hash
from gateway.audit.record import AuditRecord
from gateway.audit.segments import chains, first_line, is_held, last_line
from gateway.jsoncodec import DecodeError, loads
from gateway.keyfiles import load_key

CHECKPOINT_KEY_VARIABLE = "CALLGATE_AUDIT_CHECKPOINT_KEY"
MAC_PREFIX = "hmac-sha256:"


def checkpoint_key(env: Mapping[str, str]) -> bytes | None:
    """The checkpoint key from ``env`` (hex or base64, at least 32 bytes), or None when it is not set."""
    if not env.get(CHECKPOINT_KEY_VARIABLE):
        return None
    # Only the variable is read: with it set, load_key never looks at (or creates) the path.
    return load_key(env, CHECKPOINT_KEY_VARIABLE, Path(os.devnull))


def new_chain_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"


def mac_of(key: bytes, record: Mapping[str, Any]) -> str:
    """The MAC of a checkpoint: over its canonical JSON without the ``mac`` field."""
    unsigned = {name: value for name, value in record.items() if name != "mac"}
    return MAC_PREFIX + hmac.new(key, canonical(unsigned), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainEnd:
    """Where a finished chain stops: its last complete record, and whether a torn line follows it."""

    chain: str
    seq: int
    hash: str
    torn: bool

    def to_link(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "hash": self.hash, "torn": self.torn}


class Chain:
    """Seals records in order: assigns ``seq`` and ``prev``, signs checkpoints. Used by one thread only."""

    def __init__(self, chain_id: str, key: bytes | None, prev: str = GENESIS) -> None:
        self.id = chain_id
        self._key = key
        self.seq = 0
        self.prev = prev
        self.since_checkpoint = 0

    @property
    def state(self) -> tuple[int, str, int]:
        return self.seq, self.prev, self.since_checkpoint

    def restore(self, state: tuple[int, str, int]) -> None:
        """Back to ``state``: the records sealed since were never written."""
        self.seq, self.prev, self.since_checkpoint = state

    def seal(self, record: AuditRecord) -> bytes:
        """The line to append for ``record`` (its canonical JSON and a newline); the chain moves on."""
        data = record.to_json()
        data["chain"], data["seq"], data["prev"] = self.id, self.seq, self.prev
        if record.event == "audit/checkpoint":
            if self._key is not None:
                data["mac"] = mac_of(self._key, data)
            self.since_checkpoint = 0
        else:
            self.since_checkpoint += 1
        line = canonical(data)
        self.prev = digest_of(line)
        self.seq += 1
        return line + b"\n"

    def checkpoint(self, reason: str, segment: str, **extra: Any) -> AuditRecord:
        body: dict[str, Any] = {
            "reason": reason,
            "records": self.seq,
            "segment": segment,
            "signed": self._key is not None,
            "final": reason == "shutdown",
            **extra,
        }
        return AuditRecord.audit_checkpoint(body)


def chain_ends_to_link(directory: Path, own: str) -> list[ChainEnd]:
    """The ends of the finished chains a new chain should link to (oldest first); empty in a new trail.

    Every finished chain that no chain links to yet; failing those, the newest finished chain, so
    that a chain never starts from nothing while an earlier one is on disk.
    """
    found = {chain: segments for chain, segments in chains(directory).items() if chain != own}
    linked: set[str] = set()
    for segments in found.values():
        if segments[0].number == 0:
            linked.update(_linked_from(segments[0].path))
    finished = [chain for chain, segments in sorted(found.items()) if not is_held(segments[-1].path)]
    chosen = [chain for chain in finished if chain not in linked] or finished[-1:]
    ends = [_end_of(chain, found[chain]) for chain in chosen]
    return [end for end in ends if end is not None]


def _linked_from(path: Path) -> list[str]:
    line = first_line(path)
    if line is None:
        return []
    try:
        record = loads(line)
        links = record["checkpoint"]["links"]
        return [str(link["chain"]) for link in links]
    except (DecodeError, KeyError, TypeError):
        return []


def _end_of(chain: str, segments: list[Any]) -> ChainEnd | None:
    torn = False
    for segment in reversed(segments):
        line, torn_here = last_line(segment.path)
        torn = torn or torn_here
        if line is None:
            continue
        try:
            record = loads(line)
            return ChainEnd(chain, int(record["seq"]), record_hash(record), torn)
        except (DecodeError, KeyError, TypeError, ValueError):
            return None  # an unreadable end: verify reports it; linking to it would vouch for it
    return None
