"""Build the Lambda zip: reproducible, content-addressed, without boto3.

The zip holds every module under ``src/`` at its root, plus the pure-Python packages of
``requirements/lambda.txt`` (what the python3.13 runtime lacks). Entries are sorted and carry a
fixed timestamp and mode, so the same sources give the same bytes and the same SHA-256. The S3 key
is derived from that hash, so CloudFormation updates the functions only when the code changes.

Built by Python 3.13, the zip also holds each module's bytecode (``__pycache__/*.cpython-313.pyc``).
Lambda's code directory is read-only, so without it every cold start compiles every module it
imports from source (make bench measures the difference). The bytecode is keyed by a hash of its
source rather than a timestamp (PEP 552), which keeps the build reproducible.

Two libraries ship far more data than the functions read, and only what is read goes in (``pruned``):
Babel's CLDR locale data (about 30 MB) is cut to the root locale, the message locales and their parents,
and phonenumbers loses its geocoding, carrier and time-zone prefix data (about 40 MB), of which only
``is_possible_number`` is used (the region metadata stays). A test formats every message kind from an
extracted zip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import py_compile
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
LAMBDA_CACHE_TAG = "cpython-313"  # the bytecode python3.13 loads
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".pyi"}
MESSAGE_LOCALES = ("en", "de", "fr", "es")  # appointments.contacts.MESSAGE_LOCALES, and texts/<locale>.json
PHONENUMBERS_UNUSED = ("phonenumbers/geodata/", "phonenumbers/carrierdata/", "phonenumbers/tzdata/")


def babel_locales_kept() -> set[str]:
    """The CLDR locale files Babel reads to format in the message locales: each locale and its parents
    (``en`` and ``root``; none of the four has another), as their ``<name>.dat``."""
    kept = {"root"}
    for locale in MESSAGE_LOCALES:
        parts = locale.split("_")
        kept.update("_".join(parts[:n]) for n in range(1, len(parts) + 1))
    return {f"babel/locale-data/{name}.dat" for name in kept}


def pruned(name: str) -> bool:
    """Whether a vendored file is left out of the zip: data no function reads."""
    if name.startswith("babel/locale-data/"):
        return name not in babel_locales_kept()
    return name.startswith(PHONENUMBERS_UNUSED)


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    size: int

    @property
    def s3_key(self) -> str:
        return f"lambda/appointment-scheduler-{self.sha256}.zip"


def vendored_dependencies() -> Path:
    """Install requirements/lambda.txt once per requirements content into build/deps-<hash>.

    The install goes into a directory of its own, renamed into place once complete, so builds running at
    once (make test's two workers) never install into one directory: the first to finish wins, and the
    others use its directory and drop their own."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    target = BUILD / f"deps-{digest}"
    if (target / ".complete").exists():
        return target
    if target.exists():  # left half-installed by an earlier build that stopped
        shutil.rmtree(target, ignore_errors=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    installing = Path(tempfile.mkdtemp(dir=BUILD, prefix=f"{target.name}.installing-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", "--no-deps", "--only-binary=:all:",
             "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13",
             "--target", str(installing), "-r", str(REQUIREMENTS)],
            check=True,
        )
        (installing / ".complete").touch()
        try:
            installing.rename(target)
        except OSError:  # another build put its complete directory there first
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(installing, ignore_errors=True)
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


def compiled(entries: dict[str, Path], into: Path) -> dict[str, Path]:
    """The bytecode of every module, at the names python3.13 looks for it; none from another Python,
    whose bytecode python3.13 would ignore."""
    if sys.implementation.cache_tag != LAMBDA_CACHE_TAG:
        return {}
    bytecode = {}
    for name, source in entries.items():
        if name.endswith(".py"):
            cached = importlib.util.cache_from_source(name)
            # dfile: the name recorded in the bytecode, the same on every machine (Python shows the real
            # path when it loads the module).
            py_compile.compile(str(source), cfile=str(into / cached), dfile=name, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            bytecode[cached] = into / cached
    return bytecode


def build(output: Path | None = None) -> Package:
    output = output or BUILD / "lambda.zip"
    entries = {name: path for name, path in files_under(vendored_dependencies()) if not pruned(name)}
    entries.update(files_under(SRC))  # our code wins any name clash
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, \
            tempfile.NamedTemporaryFile(dir=output.parent, suffix=".partial", delete=False) as partial, \
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        entries.update(compiled(entries, Path(scratch)))
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
