"""The wheel's build hook: the processor's hot modules compiled with mypyc.

A standard wheel carries a C extension for each module of the COMPILED packages
(``logsentinel.parsing``, the decoder, and ``logsentinel.detection``, the rule engine) except
those in PURE (Python imports an extension before the ``.py`` of the same name, which stays
beside it); the decoder then runs about 1.4 times faster and the default rules cost about a
third less (docs/benchmarks.md). An editable install stays pure Python, so that an edited
``.py`` is what runs.

Environment:

- ``LOGSENTINEL_PURE_PYTHON=1``: build a pure wheel.
- ``LOGSENTINEL_REQUIRE_COMPILED=1``: fail when compiling fails (the image build sets it);
  otherwise a machine without a C compiler or Python's headers gets a pure wheel and a warning.
- ``LOGSENTINEL_MYPYC_PYTHON``: the interpreter whose installed packages mypy reads for types
  (default: the one building); where pydantic is not installed its types count as Any, which
  compiles to slower but equivalent code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED = ("parsing", "detection")
"""The packages under ``logsentinel`` whose modules are compiled."""
PURE = frozenset(
    {"__init__.py", "parsing/templates.py", "parsing/otlp.py", "parsing/fluentbitshape.py"}
)
"""Modules left as Python, relative to their package's parent (``__init__.py``: every one).
templates.py subclasses drain3's untyped Drain, which a compiled class cannot; otlp.py reads
protobuf messages, whose cost is in protobuf itself; fluentbitshape.py defines a msgspec
Struct, which mypyc cannot compile (its decoding is C already)."""

_COMPILE = """
import sys
from mypyc.build import mypycify
from setuptools import setup

out, temp, *mypy_args = sys.argv[1:]
setup(
    name="logsentinel-parsing-compiled",
    script_args=["build_ext", "--build-lib", out, "--build-temp", temp],
    ext_modules=mypycify(mypy_args, opt_level="3"),
)
"""


def compiled_sources(src: Path) -> list[Path]:
    """The modules to compile, relative to ``src``."""
    root = src / "logsentinel"
    modules = [module for package in COMPILED for module in (root / package).glob("*.py")]
    return sorted(
        module.relative_to(src)
        for module in modules
        if module.name not in PURE and str(module.relative_to(root)) not in PURE
    )


def compile_extensions(src: Path, out: Path, python: str | None = None) -> list[Path]:
    """Compile the modules compiled_sources names in ``src`` (a source tree holding
    ``logsentinel/``) into ``out``; returns the extension files, relative to ``out``. Raises
    RuntimeError with mypyc's and the compiler's output when it fails."""
    with tempfile.TemporaryDirectory(prefix="logsentinel-mypyc-") as scratch:
        # mypyc writes its C sources under the working directory: a copy keeps src clean
        work = Path(scratch) / "src"
        shutil.copytree(src / "logsentinel", work / "logsentinel")
        mypy_args = [
            "--config-file=",  # the project's mypy settings load the pydantic plugin: not needed
            "--ignore-missing-imports",
            f"--python-executable={python or sys.executable}",
            *(str(path) for path in compiled_sources(src)),
        ]
        done = subprocess.run(
            [sys.executable, "-c", _COMPILE, str(out), str(Path(scratch) / "temp"), *mypy_args],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mypyc failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return sorted(path.relative_to(out) for path in out.rglob("*.so"))


class CompiledParsingHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled modules to standard wheels."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        if os.environ.get("LOGSENTINEL_PURE_PYTHON") == "1":
            self.app.display_info("logsentinel: pure-Python wheel (LOGSENTINEL_PURE_PYTHON=1)")
            return
        out = Path(self.directory) / "mypyc"
        shutil.rmtree(out, ignore_errors=True)
        try:
            self.app.display_info(f"logsentinel: compiling {', '.join(COMPILED)} with mypyc")
            built = compile_extensions(
                Path(self.root) / "src", out, os.environ.get("LOGSENTINEL_MYPYC_PYTHON")
            )
        except (RuntimeError, OSError) as error:
            if os.environ.get("LOGSENTINEL_REQUIRE_COMPILED") == "1":
                raise
            self.app.display_warning(
                f"logsentinel: building a pure-Python wheel, compiling failed: {error}"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for extension in built:
            build_data["force_include"][str(out / extension)] = str(extension)
