"""Build the Lambda zip: reproducible, content-addressed, without boto3.

The zip holds every module under ``src/`` at its root, plus the pure-Python packages of
``requirements/lambda.txt`` (what the python3.13 runtime lacks). Entries are sorted and carry a
fixed timestamp and mode, so the same sources give the same bytes and the same SHA-256. The S3 key
is derived from that hash, so CloudFormation updates the functions only when the code changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
BUILD = ROOT / "build"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    size: int

    @property
    def s3_key(self) -> str:
        return f"lambda/appointment-scheduler-{self.sha256}.zip"


def vendored_dependencies() -> Path:
    """Install requirements/lambda.txt once per requirements content into build/deps-<hash>."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    target = BUILD / f"deps-{digest}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--no-deps", "--only-binary=:all:",
         "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13",
         "--target", str(target), "-r", str(REQUIREMENTS)],
        check=True,
    )
    (target / ".complete").touch()
    return target


def files_under(base: Path) -> list[tuple[str, Path]]:
    entries = []
    for path in base.rglob("*"):
        relative = path.relative_to(base)
        if (path.is_dir() or path.name == ".complete" or SKIPPED_PARTS.intersection(relative.parts)
                or path.suffix in SKIPPED_SUFFIXES):
            continue
        entries.append((relative.as_posix(), path))
    return entries


def build(output: Path | None = None) -> Package:
    output = output or BUILD / "lambda.zip"
    entries = dict(files_under(vendored_dependencies()))
    entries.update(files_under(SRC))  # our code wins any name clash
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=".partial", delete=False) as partial, \
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=9)
    os.replace(partial.name, output)  # atomic: concurrent builds never see a half-written zip
    data = output.read_bytes()
    return Package(path=output, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def main() -> None:
    package = build()
    print(f"path   {package.path.relative_to(ROOT)}")
    print(f"size   {package.size} bytes ({package.size / 1024 / 1024:.2f} MiB)")
    print(f"sha256 {package.sha256}")
    print(f"s3 key {package.s3_key}")


if __name__ == "__main__":
    main()
