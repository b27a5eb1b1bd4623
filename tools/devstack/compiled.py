"""The product's wheel as it ships, unpacked: parsing and detection compiled with mypyc.

``python -m devstack compiled`` builds the wheel with ``pip wheel`` (the build hook in
hatch_build.py compiles; mypy reads types from this venv's packages; its output in
``.stack/compiled/wheel.log``) and unpacks it into ``~/.cache/logsentinel/compiled-<key>``,
keyed by the Python sources, pyproject.toml, the hook and the interpreter, then prints that
directory. With it first on ``PYTHONPATH`` the compiled modules
run instead of the editable sources: the benchmarks measure, and a unit test checks, the
decoder that the image carries.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from devstack import log, paths
from devstack.errors import StackError
from devstack.proc import run_logged

MARKER = ".complete"
KEEP = 4
"""Compiled trees kept in the cache (the most recent); older ones are removed."""


def _key() -> str:
    """Changes with any Python source, pyproject.toml, the build hook and the interpreter."""
    root = paths.REPO_ROOT
    digest = hashlib.sha256(sys.version.encode())
    files = [root / "pyproject.toml", root / "hatch_build.py"]
    files += sorted((root / "src" / "logsentinel").rglob("*.py"))
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def tree() -> Path:
    """The unpacked compiled wheel (built once per key); raises StackError when it cannot be
    built compiled (no C compiler, no Python headers, mypyc refusing the code)."""
    directory = paths.cache_dir("compiled", _key())
    if (directory / MARKER).exists():
        return directory
    started = time.monotonic()
    log.info("build", component="compiled", cache=str(directory))
    with tempfile.TemporaryDirectory(prefix="logsentinel-wheel-") as scratch:
        environment = {
            **os.environ,
            "LOGSENTINEL_REQUIRE_COMPILED": "1",
            "LOGSENTINEL_MYPYC_PYTHON": sys.executable,
        }
        environment.pop("LOGSENTINEL_PURE_PYTHON", None)
        run_logged(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", scratch, "."],
            log_file=paths.state_dir("compiled") / "wheel.log",
            label="pip wheel (mypyc)",
            env=environment,
            cwd=paths.REPO_ROOT,
            heartbeat=10.0,
        )
        (wheel,) = Path(scratch).glob("*.whl")
        shutil.rmtree(directory, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(directory)
    extensions = list((directory / "logsentinel").glob("*/*.so"))
    for package in ("parsing", "detection"):
        if not list((directory / "logsentinel" / package).glob("*.so")):
            raise StackError(f"the wheel built into {directory} holds no compiled {package} module")
    (directory / MARKER).write_text(f"{time.monotonic() - started:.1f}s\n")
    _prune(directory)
    log.info(
        "built",
        component="compiled",
        extensions=len(extensions),
        seconds=f"{time.monotonic() - started:.1f}",
    )
    return directory


def _prune(keep: Path) -> None:
    built = sorted(
        (d for d in paths.cache_root().glob("compiled-*") if d != keep),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for old in built[KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def main(_: list[str]) -> int:
    print(tree())
    return 0
