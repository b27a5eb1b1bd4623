"""The decoder and the rule engine as the wheel and the image ship them, compiled with mypyc
(hatch_build.py): the parsing, batch and detection unit tests pass against the compiled modules,
and those are what they run.

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
SUITES = [
    "tests/unit/parsing",
    "tests/unit/test_processor_batch.py",
    "tests/unit/test_detection_engine.py",
    "tests/unit/test_detection_scenarios.py",
    "tests/unit/test_detectors.py",
    "tests/unit/test_detectors_isolation.py",
    "tests/unit/test_detectors_newpattern.py",
    "tests/unit/test_watermarks.py",
    "tests/unit/test_default_rules.py",
]
PROBE = (
    "import logsentinel.parsing.decoder as d, logsentinel.detection.engine as e; "
    "print(d.__file__); print(e.__file__)"
)


def test_the_parsing_and_detection_tests_pass_against_the_compiled_modules() -> None:
    tree = compiled.tree()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(REPO / "tools"), str(REPO / "tests")]),
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    for module in probe.stdout.split():
        assert module.endswith(".so"), probe.stdout
        assert module.startswith(str(tree)), probe.stdout
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
