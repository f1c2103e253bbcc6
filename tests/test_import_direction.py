"""Dependencies point one way: the import-linter contracts in pyproject.toml hold, and they do catch a
reversed import (a copy of the tree with one `store` module importing the application shell fails)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = (
    "gateway",
    "adapters",
    "workflows",
    "notifications",
    "consent",
    "presentations",
    "identity",
    "core",
    "store",
)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_reversed_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    for package in (*PACKAGES, "detection"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    store_db = tmp_path / "store" / "db.py"
    store_db.write_text(store_db.read_text() + "\nimport gateway.app  # reversed on purpose\n")
    detection_engine = tmp_path / "detection" / "engine.py"
    detection_engine.write_text(detection_engine.read_text() + "\nimport store.db  # impure on purpose\n")
    core_clock = tmp_path / "core" / "clock.py"
    core_clock.write_text(core_clock.read_text() + "\nimport pytest  # a test library on purpose\n")

    result = _lint(tmp_path)

    assert result.returncode == 1
    assert "store.db -> gateway.app" in result.stdout
    assert "detection.engine -> store.db" in result.stdout
    assert "core.clock -> pytest" in result.stdout
