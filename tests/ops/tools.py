"""External tools the operations tests run: found on PATH or beside the interpreter, else skipped (failed in CI)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def require_tool(name: str, how: str) -> str:
    """The path of ``name``; without it the test fails under CI (CI=true) and is skipped elsewhere."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed ({how})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found
