"""The dashboard on the whole chain: logs go through Kafka to a real processor (Kubernetes mode,
rules from the apiserver), which opens an Incident; the operator (a real process) matches an
approval playbook and waits. In Chromium an operator sees the charts and top templates drawn
from what the processor stored, the pipeline keeping up, the incident awaiting approval with its
playbook's steps; approves it from the page; and sees the operator's rollback succeed there,
while the Deployment is back on the good image."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.api_process import RunningApi, api_process
from support.browser import require_built_dashboard, screenshot, sign_in
from support.dashboard_data import admin_headers
from support.operator import Cluster
from support.remediation_flow import APP, V1, bad_rollout_opens_an_incident, kube_processor
from support.running import Running

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ADMIN = ("admin", "live-admin-password-1")
OPERATOR = ("olga", "operator-password-123")
OPERATOR_ACTS_MS = 120_000
"""The rollback: the operator's next look at the incident, the rollout of two pods on kwok."""


@pytest.fixture
def processor(
    cluster: Cluster, kafka_bootstrap: str, kafka_topic: str, kube_config: str
) -> Iterator[Running]:
    with kube_processor(cluster, kafka_bootstrap, kafka_topic, kube_config) as running:
        yield running


@pytest.fixture
def live_api(cluster: Cluster, kube_config: str, tmp_path: Path) -> Iterator[RunningApi]:
    """The API in Kubernetes mode on the cluster's database, with an operator user."""
    require_built_dashboard()
    environment = {"LOGSENTINEL_KUBERNETES": "true", "LOGSENTINEL_KUBECONFIG": kube_config}
    with api_process(cluster.database_url, tmp_path, ADMIN, environment) as api:
        answer = httpx.post(
            f"{api.base}/api/v1/users",
            json={"username": OPERATOR[0], "password": OPERATOR[1], "role": "operator"},
            headers=admin_headers(api.base, ADMIN),
        )
        assert answer.status_code == 201, answer.text
        yield api


def test_an_operator_approves_from_the_page_and_the_operator_rolls_back(
    page: Page,
    cluster: Cluster,
    processor: Running,
    live_api: RunningApi,
    kafka_bootstrap: str,
    kafka_topic: str,
) -> None:
    name = bad_rollout_opens_an_incident(
        cluster, processor, kafka_bootstrap, kafka_topic, "approval"
    )
    cluster.wait_phase(name, {"AwaitingApproval"})
    sign_in(page, live_api, OPERATOR)

    # the overview, from what the processor stored
    expect(
        page.get_by_role("img", name=re.compile(rf"Log lines per interval.*{APP}"))
    ).to_be_visible()
    templates = page.get_by_role("region", name="Top templates")
    expect(templates).to_contain_text("failed: NullPointerException")
    expect(templates.get_by_role("cell", name="12", exact=True)).to_be_visible()
    expect(page.get_by_text("Keeping up")).to_be_visible()
    page.get_by_role("link", name="1 awaiting approval").click()

    # the list, filtered, and the incident with its pending playbook
    page.get_by_role("link", name=name).click()
    approval = page.get_by_role("region", name="Remediation awaits approval")
    expect(approval).to_contain_text("rollback-bad-release")
    expect(approval.get_by_role("listitem")).to_have_text(
        [re.compile(r"^rollback \(rollback\)"), re.compile(r"^verify \(verify\)")]
    )
    screenshot(page, "approval")
    approval.get_by_role("button", name="Approve remediation").click()
    expect(page.get_by_text("Approved: the operator runs the playbook.")).to_be_visible()

    # the operator acts; the page shows it without being reloaded
    steps = page.get_by_role("region", name="Remediation steps")
    expect(steps.get_by_text("Succeeded").first).to_be_visible(timeout=OPERATOR_ACTS_MS)
    expect(steps).to_contain_text("rollback")
    cluster.wait_rolled_out(APP, V1, timeout=60)
    incident = cluster.get("incident", name)
    assert incident["metadata"]["annotations"]["logsentinel.io/approved-by"] == OPERATOR[0]
    approvals = [entry for entry in cluster.audit(name) if entry[0] == "approve"]
    assert approvals, "the approval is audited"
    screenshot(page, "remediated")
