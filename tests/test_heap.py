"""A served worker freezes what it holds once started, and a reload frees what the old runtime held."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import load_config
from gateway.heap import YOUNG_THRESHOLD, Heap


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Every test here starts and ends with nothing frozen and the thresholds as they were (a shared process)."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_cycle_frozen_by_one_settle_is_freed_by_the_next() -> None:
    heap = Heap(freeze=True)
    node = Node()
    gone = weakref.ref(node)
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the live state of calls in flight is not garbage
    del node
    gc.collect()
    assert gone() is not None  # frozen: the collector no longer looks at it
    heap.settle()
    assert gone() is None


def test_an_app_built_in_process_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    Heap(freeze=False).settle()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


async def test_a_served_app_freezes_once_started_and_again_after_each_reload(config_copy: Path) -> None:
    env = {"CALLGATE_AUDIT_DIR": str(config_copy / "audit")}
    app = create_app(load_config(config_copy, env=env), env=env, served=True)
    async with app.lifespan():
        started = gc.get_freeze_count()
        assert started > 10_000  # the runtime, the PII engine, the policy engine
        old = weakref.ref(app.holder.current.policy)
        result = await app.reloader.reload("test")
        assert result.reloaded
        assert old() is None  # the replaced runtime was collected, not kept frozen
        assert gc.get_freeze_count() > 10_000


async def test_an_app_not_served_does_not_freeze(config_copy: Path) -> None:
    env = {"CALLGATE_AUDIT_DIR": str(config_copy / "audit")}
    app = create_app(load_config(config_copy, env=env), env=env)
    async with app.lifespan():
        assert gc.get_freeze_count() == 0
