"""DetectionRules and Playbooks: list, get, create or replace, delete — validated with the domain
models and kept as custom resources (Kubernetes mode) or YAML files (local mode). Every put and
delete is in the audit log.

No `from __future__ import annotations` here: the route functions are built in a loop, and
FastAPI must see their dependencies (which close over the writer role) and the kind's spec
model as real objects.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, status

from logsentinel.api.deps import Database, Grant, Principal, allow, app_state
from logsentinel.api.manifests import (
    BusyError,
    InvalidStoredError,
    ManifestStore,
    NotFoundError,
    as_manifest,
)
from logsentinel.api.responses import AUTHENTICATED, BAD_BODY, errors
from logsentinel.domain.audit import AdminAction
from logsentinel.domain.base import model_of
from logsentinel.domain.common import ObjectMeta
from logsentinel.domain.resources import CustomResource, DetectionRule, Playbook
from logsentinel.domain.types import NamespaceName, ObjectName
from logsentinel.kube.errors import KubeError, KubeRequestError
from logsentinel.storage import audit

router = APIRouter(prefix="/api/v1", tags=["rules and playbooks"], responses=AUTHENTICATED)
Namespace = Annotated[NamespaceName, Path(description="The object's namespace.")]
Name = Annotated[ObjectName, Path(description="The object's name.")]
NamespaceFilter = Annotated[NamespaceName | None, Query(description="Only this namespace.")]
RULE_EXAMPLE = {
    "selector": {"namespaces": ["shop"]},
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}
PLAYBOOK_EXAMPLE = {
    "triggers": {"incidentTypes": ["ErrorBurst"]},
    "mode": "dryRun",
    "steps": [{"type": "rolloutRestart"}],
}


def _kube_failure(error: KubeError) -> HTTPException:
    """The caller's fault (a conflict, an object the apiserver refuses) keeps its meaning; the
    API's own (its ServiceAccount may not do this) or the apiserver's is a 503."""
    if isinstance(error, KubeRequestError):
        if error.status in (status.HTTP_404_NOT_FOUND, status.HTTP_409_CONFLICT):
            return HTTPException(error.status, f"Kubernetes: {error.message}")
        if error.status in (status.HTTP_400_BAD_REQUEST, status.HTTP_422_UNPROCESSABLE_CONTENT):
            return HTTPException(
                status.HTTP_400_BAD_REQUEST, f"Kubernetes refused the object: {error.message}"
            )
        if error.status in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            return HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the API's own Kubernetes credentials were refused (check its RBAC): "
                f"{error.message}",
                headers={"Retry-After": "5"},
            )
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, f"Kubernetes: {error}", headers={"Retry-After": "5"}
    )


def _conflict(error: InvalidStoredError | BusyError) -> HTTPException:
    """A stored object that does not parse (replace it with a PUT, or DELETE it), or a
    directory another writer holds: the object's state, not the request, is in the way."""
    return HTTPException(status.HTTP_409_CONFLICT, str(error))


def _audit(
    connection: psycopg.Connection[Any],
    who: Principal,
    action: AdminAction,
    resource: tuple[str, str, str],
    detail: dict[str, Any],
) -> None:
    """After the change: the object lives outside the database, so the two cannot be one
    transaction. The connection is taken before the change (the route's Database dependency),
    so a database that is busy or away refuses the request (503) before anything changes; one
    lost in between answers 503 with the change made, and is logged."""
    kind, namespace, name = resource
    audit.record_action(
        connection,
        who.identity,
        action,
        target_kind=kind,
        target_namespace=namespace,
        target_name=name,
        detail=detail,
    )


def _digest(spec: dict[str, Any]) -> str:
    """Tells versions of a spec apart in the audit log without copying it there (a playbook's
    webhook URL may be a credential)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def register(
    model: type[CustomResource[Any, Any]],
    path: str,
    singular: str,
    store_of: Callable[[Request], ManifestStore[Any]],
    writer: Grant,
    example: dict[str, Any],
    actions: tuple[AdminAction, AdminAction],
) -> None:
    """list_<path>, get_<singular>, put_<singular>, delete_<singular> for one kind; puts and
    deletes are audited as actions (put, delete).

    Bodies and answers are the domain models: the PUT body is the spec, the answers are the
    manifest (apiVersion, kind, metadata, spec) as kubectl would show it, without status.
    """
    spec_model = model_of(model.model_fields["spec"].annotation)
    kind = model.INFO.kind
    spec_model.model_validate(example)  # a documented example that is wrong fails at import
    spec_body = Body(openapi_examples={kind: {"summary": f"A {kind} spec", "value": example}})

    def list_all(
        request: Request,
        who: Annotated[Principal, Depends(allow("viewer"))],
        namespace: NamespaceFilter = None,
    ) -> list[dict[str, Any]]:
        try:
            return [as_manifest(r) for r in store_of(request).list(namespace)]
        except KubeError as error:
            raise _kube_failure(error) from None

    def get_one(
        namespace: Namespace,
        name: Name,
        request: Request,
        who: Annotated[Principal, Depends(allow("viewer"))],
    ) -> dict[str, Any]:
        try:
            return as_manifest(store_of(request).get(namespace, name))
        except NotFoundError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except InvalidStoredError as error:
            raise _conflict(error) from None
        except KubeError as error:
            raise _kube_failure(error) from None

    def put_one(
        namespace: Namespace,
        name: Name,
        spec: Annotated[spec_model, spec_body],  # type: ignore[valid-type]  # known at runtime
        request: Request,
        response: Response,
        who: Annotated[Principal, Depends(allow(writer))],
        connection: Database,
    ) -> dict[str, Any]:
        resource = model(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec)
        try:
            created = store_of(request).put(resource)
        except BusyError as error:
            raise _conflict(error) from None
        except KubeError as error:
            raise _kube_failure(error) from None
        manifest = as_manifest(resource)
        detail = {"created": created, "specSha256": _digest(manifest["spec"])}
        _audit(connection, who, actions[0], (kind, namespace, name), detail)
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return manifest

    def delete_one(
        namespace: Namespace,
        name: Name,
        request: Request,
        who: Annotated[Principal, Depends(allow(writer))],
        connection: Database,
    ) -> Response:
        try:
            store_of(request).delete(namespace, name)
        except NotFoundError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except BusyError as error:
            raise _conflict(error) from None
        except KubeError as error:
            raise _kube_failure(error) from None
        _audit(connection, who, actions[1], (kind, namespace, name), {})
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    for function, name in (
        (list_all, f"list_{path}"),
        (get_one, f"get_{singular}"),
        (put_one, f"put_{singular}"),
        (delete_one, f"delete_{singular}"),
    ):
        function.__name__ = name
        function.__doc__ = f"{name.replace('_', ' ').capitalize()} ({kind})."
    unavailable = errors(503)
    router.add_api_route(
        f"/{path}",
        list_all,
        methods=["GET"],
        name=f"list_{path}",
        response_model=list[model],  # type: ignore[valid-type]
        response_model_exclude_none=True,
        responses=unavailable,
    )
    item = f"/{path}/{{namespace}}/{{name}}"
    router.add_api_route(
        item,
        get_one,
        methods=["GET"],
        name=f"get_{singular}",
        response_model=model,
        response_model_exclude_none=True,
        responses={**errors(404, 409), **unavailable},
    )
    router.add_api_route(
        item,
        put_one,
        methods=["PUT"],
        name=f"put_{singular}",
        response_model=model,
        response_model_exclude_none=True,
        responses={
            status.HTTP_201_CREATED: {"model": model, "description": "Created"},
            **BAD_BODY,
            **errors(409),
            **unavailable,
        },
    )
    router.add_api_route(
        item,
        delete_one,
        methods=["DELETE"],
        name=f"delete_{singular}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={**errors(404, 409), **unavailable},
    )


register(
    DetectionRule,
    "rules",
    "rule",
    lambda r: app_state(r).rules,
    "operator",
    RULE_EXAMPLE,
    (AdminAction.PUT_DETECTION_RULE, AdminAction.DELETE_DETECTION_RULE),
)
register(
    Playbook,
    "playbooks",
    "playbook",
    lambda r: app_state(r).playbooks,
    "admin",
    PLAYBOOK_EXAMPLE,
    (AdminAction.PUT_PLAYBOOK, AdminAction.DELETE_PLAYBOOK),
)
