"""The hostile suite (`make test-hostile`): one test module per defence, see docs/security.md.

At the end of a run that collected hostile tests this prints one line,
``RESULT hostile_cases=<passed>/<total> healthz_p99_ms_under_attack=<ms>``; the /healthz figure
comes from the flood test (through the ``healthz_p99_recorder`` fixture) and is ``n/a`` when that
test did not run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_outcomes: dict[str, bool] = {}
_figures: dict[str, float] = {}


@pytest.fixture
def healthz_p99_recorder() -> Callable[[float], None]:
    """Takes the /healthz p99 (ms) that the flood test measured while under attack."""

    def record(milliseconds: float) -> None:
        _figures["healthz_p99_ms"] = milliseconds

    return record


def _is_hostile(item_path: str) -> bool:
    return Path(item_path).resolve().is_relative_to(HERE)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _is_hostile(str(report.fspath)):
        return
    failed = report.failed
    if report.when == "call" or failed or report.skipped:
        previous = _outcomes.get(report.nodeid, True)
        _outcomes[report.nodeid] = previous and report.passed and not report.skipped


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _outcomes:
        return
    passed = sum(_outcomes.values())
    p99 = _figures.get("healthz_p99_ms")
    figure = "n/a" if p99 is None else f"{p99:.1f}"
    terminalreporter.write_line(
        f"RESULT hostile_cases={passed}/{len(_outcomes)} healthz_p99_ms_under_attack={figure}"
    )
