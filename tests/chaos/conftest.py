"""The chaos suite (`make chaos`): each scenario runs the sample app at a counted rate through the
whole chain on the real node, injects one fault, and accounts for every line. Scenarios record
their outcome with ``chaos_outcome``; the run ends with one line
``RESULT chaos_scenarios=<passed>/<run> lost=<total> duplicated=<total> double_actions=<total>``."""

from __future__ import annotations

import pytest

from devstack.pytest_plugin import Kubectl
from support.chain import apply, images_of, sample_app, start_pipeline
from support.chaos import LINES_PER_SECOND, PROCESSORS, Chain, Outcome
from support.running import eventually

_outcomes: dict[str, Outcome] = {}


@pytest.fixture
def chaos_outcome(request: pytest.FixtureRequest) -> Outcome:
    """The scenario's outcome, counted in the RESULT line; the scenario marks it passed last."""
    outcome = _outcomes[request.node.name] = Outcome()
    return outcome


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _outcomes:
        return
    outcomes = _outcomes.values()
    for name, o in _outcomes.items():
        recovery = "-" if o.recovery_s is None else f"{o.recovery_s:.1f}"
        extras = "" if o.peak_lag is None else f" peak_lag={o.peak_lag}"
        extras += "" if o.reported is None else f" reported_dropped={o.reported}"
        terminalreporter.write_line(
            f"chaos {name}: {'passed' if o.passed else 'FAILED'} written={o.written} "
            f"lost={o.lost} duplicated={o.duplicated} double_actions={o.double_actions} "
            f"recovery_s={recovery}{extras}"
        )
    passed = sum(outcome.passed for outcome in outcomes)
    terminalreporter.write_line(
        f"RESULT chaos_scenarios={passed}/{len(_outcomes)} "
        f"lost={sum(o.lost for o in outcomes)} duplicated={sum(o.duplicated for o in outcomes)} "
        f"double_actions={sum(o.double_actions for o in outcomes)}"
    )


@pytest.fixture
def chain(
    kubectl: Kubectl,
    real_node: str,
    operator_pod: str,
    node_namespace: str,
    logsentinel_image: str,
    otelcol_image: str,
    sample_app_images: list[str],
    database_url: str,
    pod_database_url: str,
    kafka_bootstrap: str,
    pod_kafka_bootstrap: str,
    diagnostics: None,
) -> Chain:
    """The collector agent, two processors and the sample app (v1, 50 lines/s) running in the
    scenario's namespace on the real node, lines already arriving in PostgreSQL."""
    namespace = node_namespace
    pipeline = start_pipeline(
        kubectl,
        namespace,
        eventually,
        database_url=pod_database_url,
        agent_image=otelcol_image,
        processor_image=logsentinel_image,
        kafka=pod_kafka_bootstrap,
        processors=PROCESSORS,
    )
    good = sample_app_images[0]
    apply(kubectl, sample_app(namespace, good, LINES_PER_SECOND))
    eventually("the sample app Running", lambda: images_of(kubectl, namespace) == {good}, 90)
    running = Chain(
        namespace,
        database_url,
        set(),
        pipeline["spec"]["kafka"]["topic"],
        kafka_bootstrap,
        real_node,
    )
    running.flowing(kubectl, LINES_PER_SECOND)
    return running
