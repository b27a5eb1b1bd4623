"""The decoder as the wheel and the image ship it, compiled with mypyc (hatch_build.py): the
parsing and batch unit tests pass against the compiled modules, and those are what they run.

The compiled wheel is built once per source (``python -m devstack compiled``, cached); mypyc
enforces the annotations at run time, so this is where a value that contradicts its type (an
Any the type checker let through) would show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack import compiled

REPO = Path(__file__).resolve().parents[2]
SUITES = ["tests/unit/parsing", "tests/unit/test_processor_batch.py"]


def test_the_parsing_tests_pass_against_the_compiled_modules() -> None:
    tree = compiled.tree()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(REPO / "tools"), str(REPO / "tests")]),
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import logsentinel.parsing.decoder as d; print(d.__file__)"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().endswith(".so"), probe.stdout
    assert probe.stdout.startswith(str(tree)), probe.stdout
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
