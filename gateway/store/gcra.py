"""GCRA, the one decision both stores make (the Redis store makes it in Lua, with the same steps)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.store.base import Bucket


def take(buckets: Sequence[Bucket], now: float, tat_of: Callable[[str], float]) -> tuple[float, list[float]]:
    """``(0.0, new TATs)`` when the call at ``now`` conforms to every bucket, else ``(wait, [])``.

    ``tat_of`` gives a key's stored TAT (0.0 when it has none). Nothing is stored here: the caller
    writes the new TATs only when the call conforms, so a refused call counts against no bucket.
    """
    wait = 0.0
    new: list[float] = []
    for bucket in buckets:
        tat = max(tat_of(bucket.key), now)
        allowed_at = tat - bucket.tolerance_s
        if allowed_at > now:
            wait = max(wait, allowed_at - now)
        new.append(tat + bucket.interval_s)
    return (wait, []) if wait > 0 else (0.0, new)
