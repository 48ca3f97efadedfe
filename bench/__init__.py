"""The benchmark harness behind ``make bench`` (``python -m bench``).

- :mod:`bench.scenarios`: the registry (B1, P, G, and whatever later capabilities register)
- :mod:`bench.launch`, :mod:`bench.processes`: servers as pinned subprocesses, always stopped
- :mod:`bench.load`, :mod:`bench.loadgen`: wrk, or the built-in asyncio generator
- :mod:`bench.runner`: check, warm up, measure one scenario
- :mod:`bench.proxy`: scenario P, the bare pass-through on callgate's stack
- :mod:`bench.stages`: per-call cost of each stage, in process
- :mod:`bench.hotspots`: ``--profile``, py-spy summaries of the server under test
- :mod:`bench.report`: ``bench/results.md``
"""
