"""What outlives every request is kept out of the cyclic garbage collector's full collections.

A served worker holds about 180,000 long-lived objects once it has started: the PII engine's
tokenizer and recognizers, the policy engine, compiled schemas, the tool registry. Python's full
collection walks every one of them. At load, objects of the calls in flight keep reaching the oldest
generation, so full collections keep coming. Measured in process at 32 concurrent calls
(2026-12-02), each took about 190 ms, one came every 4,600 calls or so, and together they were 8 %
of the CPU. Each one stalls the event loop for its whole length, for every call in flight.

:meth:`Heap.settle` collects once, then freezes what is alive (:func:`gc.freeze`). Later collections
skip those objects: in the same measurement, full collections took 0.6 ms each. Objects still die by
reference counting, and only a reference cycle among frozen objects would stay. That is why a reload
settles again: it unfreezes everything, collects (the runtime a reload replaced, once no call holds
it), and freezes the new state. That one collection is the full walk again, once per reload.

A served worker also lets more young objects pile up before a collection: :data:`YOUNG_THRESHOLD`
instead of Python's 700. Most young objects at load are the live state of the calls in flight, not
garbage, and a collection that finds them alive only promotes them. In the same measurement, the
default threshold gave 1,836 young and 166 middle collections, 3 % of the CPU; at 10,000, none came
(cyclic garbage still counts towards the threshold, so a worker that makes some is still collected).

Only served workers settle (``callgate serve``). An app built in process (tests, the benchmark's
stage table) leaves its host's collector alone.
"""

from __future__ import annotations

import gc

#: Net new container objects before a young collection (Python's default is 700; the older two stay).
YOUNG_THRESHOLD = 10_000


class Heap:
    def __init__(self, *, freeze: bool) -> None:
        self.freeze = freeze

    def settle(self) -> None:
        """Collect what is garbage, then freeze what is alive (no-op unless ``freeze``)."""
        if not self.freeze:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


__all__ = ["YOUNG_THRESHOLD", "Heap"]
