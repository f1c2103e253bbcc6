"""The product holds product code: vulture finds no dead code in the packages (with the reviewed
whitelist), it does find a function nobody calls, and the wheel's packages hold no tests or test data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _vulture(cwd: Path) -> subprocess.CompletedProcess[str]:
    # No arguments: vulture reads paths, whitelist and ignores from [tool.vulture] in pyproject.toml.
    return subprocess.run(
        [sys.executable, "-m", "vulture"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_vulture_finds_no_dead_code_in_the_product() -> None:
    result = _vulture(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_vulture_does_find_a_function_only_a_test_would_call(tmp_path: Path) -> None:
    for path in CONFIG["tool"]["vulture"]["paths"]:
        source = ROOT / path
        if source.is_dir():
            shutil.copytree(source, tmp_path / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    outbox = tmp_path / "store" / "outbox.py"
    outbox.write_text(outbox.read_text() + "\n\ndef pending_count_again() -> int:\n    return 0\n")

    result = _vulture(tmp_path)

    assert result.returncode == 3  # vulture's "dead code found"
    assert "store/outbox.py" in result.stdout and "unused function 'pending_count_again'" in result.stdout


def test_the_wheel_packages_hold_no_tests_benchmarks_or_test_data() -> None:
    include = CONFIG["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(where=str(ROOT), include=include)
    assert "detection" in packages and "store" in packages
    assert not [p for p in packages if p.split(".")[0] in ("tests", "bench")]
    assert not any(p.endswith("vignettes") for p in packages)
    shipped = [f for p in packages for f in (ROOT / p.replace(".", "/")).iterdir() if f.is_file()]
    assert not [f for f in shipped if f.suffix in (".hl7", ".er7") or f.name == "labels.json"]
