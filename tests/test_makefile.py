"""The Makefile is the user interface: its targets do what `make help` says, and no more."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # every test here starts a subprocess or a server


def test_make_clean_removes_build_output_and_caches_but_not_the_virtual_environments(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    kept = [tmp_path / ".venv" / "lib" / "site" / "__pycache__", tmp_path / ".venv-sam" / "x" / "__pycache__"]
    removed = [tmp_path / "src" / "__pycache__", tmp_path / "tests" / "__pycache__", tmp_path / "build"]
    for folder in kept + removed:
        folder.mkdir(parents=True)
        (folder / "cached.pyc").write_bytes(b"")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert all(folder.exists() for folder in kept)
    assert not any(folder.exists() for folder in removed)


def test_make_help_lists_every_target_the_readme_names():
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    readme = (ROOT / "README.md").read_text()
    for target in ("install", "run", "test", "lint", "scan", "package", "deploy", "destroy", "bench", "clean"):
        assert f"make {target}" in result.stdout
        assert f"`make {target}`" in readme
