"""``audit`` in gateway.yaml: durability replaces fsync (still read alone, mapped), defaults in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.config.model import AuditSettings
from tests.conftest import copy_shipped_config


def config_with_audit(tmp_path: Path, audit_lines: str) -> Path:
    copy_shipped_config(tmp_path)
    path = tmp_path / "policies" / "gateway.yaml"
    text = path.read_text()
    head, _, _ = text.partition("\naudit:\n")
    path.write_text(head + "\naudit:\n  dir: audit\n" + audit_lines)
    return tmp_path


@pytest.mark.parametrize(
    ("lines", "durability"),
    [("", "fsync"), ("  durability: write\n", "write"), ("  fsync: false\n", "write"), ("  fsync: true\n", "fsync")],
)
def test_durability_and_the_old_fsync_switch(tmp_path: Path, lines: str, durability: str) -> None:
    settings = load_config(config_with_audit(tmp_path, lines)).gateway.audit
    assert settings.durability == durability
    assert settings.dir == tmp_path / "audit"


def test_fsync_beside_durability_is_refused_with_file_and_line(tmp_path: Path) -> None:
    config_dir = config_with_audit(tmp_path, "  durability: write\n  fsync: true\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config_dir)
    assert "audit.fsync is replaced by audit.durability" in str(raised.value)
    assert raised.value.line is not None


def test_rotation_and_checkpoint_settings_are_read_and_checked(tmp_path: Path) -> None:
    options = [
        "segment_max_bytes: 1048576",
        "segment_max_age_s: 3600",
        "checkpoint_every: 10",
        "checkpoint_interval_s: 5",
    ]
    lines = "".join(f"  {option}\n" for option in options)
    settings = load_config(config_with_audit(tmp_path, lines)).gateway.audit
    assert settings == AuditSettings(tmp_path / "audit", "fsync", 1048576, 3600.0, 10, 5.0)
    with pytest.raises(ConfigError):
        load_config(config_with_audit(tmp_path / "bad", "  durability: sometimes\n"))
