"""Errors of the Kubernetes adapters, and the bounded retry every apiserver call goes through.

Transient failures (connection errors, timeouts, 429 and 5xx answers) are retried a few times
with a short backoff and then raised as :class:`KubeUnavailable`; any other error answer is
raised at once as :class:`KubeRequestError` carrying the apiserver's own message.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

T = TypeVar("T")

ATTEMPTS = 3
"""How many times a call is tried before the apiserver is declared unavailable."""

BACKOFF = 0.1
"""Seconds before the second attempt; doubled before each later one (plus jitter)."""


class KubeError(Exception):
    """Something went wrong talking to the Kubernetes API."""


class KubeUnavailable(KubeError):  # noqa: N818 - the name says what callers catch
    """The apiserver could not be reached or kept failing (5xx) after the bounded retries."""

    def __init__(self, operation: str, attempts: int, cause: str) -> None:
        self.operation = operation
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"{operation}: apiserver unavailable after {attempts} attempt(s): {cause}")


class KubeRequestError(KubeError):
    """The apiserver refused a request (a 4xx answer the adapter does not handle itself)."""

    def __init__(self, operation: str, status: int, reason: str, message: str) -> None:
        self.operation = operation
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{operation}: {status} {reason}: {message}")


class KubeNotFoundError(KubeRequestError):
    """404: the object (or its namespace, or its kind) does not exist."""


class KubeConflictError(KubeRequestError):
    """409: already exists, or a stale resourceVersion."""


def status_of(error: ApiException) -> int:
    """The HTTP status of a client error; 0 when no answer was received."""
    status = getattr(error, "status", None)
    return status if isinstance(status, int) else 0


def server_message(error: ApiException) -> tuple[str, str]:
    """(reason, message) from the apiserver's Status body, falling back to the HTTP reason."""
    reason = str(getattr(error, "reason", "") or "")
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            document = json.loads(body)
        except ValueError:
            return reason, body.strip()[:2000]
        if isinstance(document, dict):
            return str(document.get("reason") or reason), str(document.get("message") or body)
    return reason, reason


def is_transient(error: BaseException) -> bool:
    """True for failures worth retrying: no answer, a timeout, 429 or a 5xx."""
    if isinstance(error, ApiException):
        status = status_of(error)
        return status == 0 or status == 429 or status >= 500
    return isinstance(error, Urllib3Error | OSError)


def describe_failure(error: BaseException) -> str:
    """One line saying what went wrong, for logs and KubeUnavailable."""
    if isinstance(error, ApiException):
        status = status_of(error)
        reason, message = server_message(error)
        if status == 0:
            return f"no answer: {reason or message}".strip()
        return f"{status} {reason}: {message}"
    return f"{type(error).__name__}: {error}"


def request_error(operation: str, error: ApiException) -> KubeRequestError:
    """The KubeRequestError (or its 404/409 subclass) for an error answer."""
    status = status_of(error)
    reason, message = server_message(error)
    kind: type[KubeRequestError] = KubeRequestError
    if status == 404:
        kind = KubeNotFoundError
    elif status == 409:
        kind = KubeConflictError
    return kind(operation, status, reason, message)


def call(
    operation: str,
    request: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``request``, retrying transient failures; translate every failure into a KubeError.

    ``operation`` names what was attempted (``create Incident shop/x``) in the raised error.
    """
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return request()
        except ApiException as error:
            if not is_transient(error):
                raise request_error(operation, error) from error
            last: BaseException = error
        except (Urllib3Error, OSError) as error:
            last = error
        if attempt < attempts:
            sleep(delay * (1 + random.random() / 2))  # jitter
            delay *= 2
    raise KubeUnavailable(operation, attempts, describe_failure(last)) from last
