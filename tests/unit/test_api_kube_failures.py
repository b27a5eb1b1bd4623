"""How the rules and playbooks routes answer when the apiserver refuses a request: the caller's
mistakes keep their meaning, the API's own missing permissions become a 503 that says so."""

from __future__ import annotations

import pytest

from logsentinel.api.routes.resources import _kube_failure
from logsentinel.kube.errors import KubeError, KubeRequestError


@pytest.mark.parametrize(
    ("apiserver", "answer", "says"),
    [
        (404, 404, "Kubernetes"),
        (409, 409, "Kubernetes"),
        (422, 400, "refused the object"),
        (400, 400, "refused the object"),
        (403, 503, "RBAC"),
        (401, 503, "RBAC"),
        (429, 503, "Kubernetes"),
    ],
)
def test_apiserver_refusals_map_to_what_the_caller_can_act_on(
    apiserver: int, answer: int, says: str
) -> None:
    failure = _kube_failure(KubeRequestError("replace", apiserver, "Reason", "what went wrong"))
    assert failure.status_code == answer
    assert says in str(failure.detail)
    assert "what went wrong" in str(failure.detail)


def test_an_unreachable_apiserver_is_a_503_with_retry_after() -> None:
    failure = _kube_failure(KubeError("connection refused"))
    assert failure.status_code == 503
    assert failure.headers == {"Retry-After": "5"}
