"""DetectionRules and Playbooks: list, get, create or replace, delete — validated with the domain
models and kept as custom resources (Kubernetes mode) or YAML files (local mode).

No `from __future__ import annotations` here: the route functions are built in a loop, and
FastAPI must see their dependencies (which close over the writer role) as real objects.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from logsentinel.api.deps import Grant, Principal, allow, app_state
from logsentinel.api.manifests import ManifestStore, NotFoundError, as_manifest
from logsentinel.domain.common import GROUP_VERSION
from logsentinel.domain.errors import InvalidResourceError
from logsentinel.domain.resources import CustomResource, DetectionRule, Playbook
from logsentinel.kube.errors import KubeError, KubeRequestError

router = APIRouter(prefix="/api/v1", tags=["rules and playbooks"])


def _kube_failure(error: KubeError) -> HTTPException:
    if isinstance(error, KubeRequestError) and 400 <= error.status < 500:
        return HTTPException(error.status, f"Kubernetes refused it: {error.message}")
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, f"Kubernetes: {error}", headers={"Retry-After": "5"}
    )


def register(
    model: type[CustomResource[Any, Any]],
    path: str,
    singular: str,
    store_of: Callable[[Request], ManifestStore[Any]],
    writer: Grant,
) -> None:
    """list_<path>, get_<singular>, put_<singular>, delete_<singular> for one kind."""
    kind = model.INFO.kind

    def list_all(
        request: Request,
        who: Annotated[Principal, Depends(allow("viewer"))],
        namespace: str | None = None,
    ) -> list[dict[str, Any]]:
        try:
            return [as_manifest(r) for r in store_of(request).list(namespace)]
        except KubeError as error:
            raise _kube_failure(error) from None

    def get_one(
        namespace: str,
        name: str,
        request: Request,
        who: Annotated[Principal, Depends(allow("viewer"))],
    ) -> dict[str, Any]:
        try:
            return as_manifest(store_of(request).get(namespace, name))
        except NotFoundError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except KubeError as error:
            raise _kube_failure(error) from None

    def put_one(
        namespace: str,
        name: str,
        spec: dict[str, Any],
        request: Request,
        response: Response,
        who: Annotated[Principal, Depends(allow(writer))],
    ) -> dict[str, Any]:
        document = {
            "apiVersion": GROUP_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        try:
            resource = model.from_manifest(document, f"{kind} {namespace}/{name}")
        except InvalidResourceError as error:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"field": p.path, "message": p.message} for p in error.problems],
            ) from None
        try:
            created = store_of(request).put(resource)
        except KubeError as error:
            raise _kube_failure(error) from None
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return as_manifest(resource)

    def delete_one(
        namespace: str,
        name: str,
        request: Request,
        who: Annotated[Principal, Depends(allow(writer))],
    ) -> Response:
        try:
            store_of(request).delete(namespace, name)
        except NotFoundError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except KubeError as error:
            raise _kube_failure(error) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    for function, name in (
        (list_all, f"list_{path}"),
        (get_one, f"get_{singular}"),
        (put_one, f"put_{singular}"),
        (delete_one, f"delete_{singular}"),
    ):
        function.__name__ = name
        function.__doc__ = f"{name.replace('_', ' ').capitalize()} ({kind})."
    router.add_api_route(f"/{path}", list_all, methods=["GET"], name=f"list_{path}")
    item = f"/{path}/{{namespace}}/{{name}}"
    router.add_api_route(item, get_one, methods=["GET"], name=f"get_{singular}")
    router.add_api_route(item, put_one, methods=["PUT"], name=f"put_{singular}")
    router.add_api_route(
        item, delete_one, methods=["DELETE"], name=f"delete_{singular}", status_code=204
    )


register(DetectionRule, "rules", "rule", lambda r: app_state(r).rules, "operator")
register(Playbook, "playbooks", "playbook", lambda r: app_state(r).playbooks, "admin")
