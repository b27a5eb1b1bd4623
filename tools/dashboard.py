"""`make dashboard`: the API with the dashboard on http://127.0.0.1:8000 against the local
stack (the database `make demo` stored its logs and incidents in, made and migrated if it is
not there yet; Kubernetes mode on its apiserver), until Ctrl-C.

The admin is ``admin`` with a password made on the first run and kept in
``.stack/dashboard-admin-password``; it is printed at start. LOGSENTINEL_PORT chooses another
port.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import httpx
import psycopg

from demo import DEMO_DATABASE, demo_database_url
from devstack import paths, stack
from logsentinel.storage.urls import libpq_url

ADMIN = "admin"
READY_TIMEOUT = 60.0


def admin_password() -> str:
    """The local admin's password: made once, then read back (the API creates the admin only
    when there is none)."""
    kept = paths.state_root() / "dashboard-admin-password"
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(secrets.token_urlsafe(18))
        kept.chmod(0o600)
    return kept.read_text().strip()


def demo_database(server_url: str) -> str:
    """The demo's database, made empty when `make demo` has not run yet."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)
        ).fetchone()
        if found is None:
            connection.execute(f"CREATE DATABASE {DEMO_DATABASE}")
    return demo_database_url(server_url)


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    components = {component.name: component for component in stack.select([])}
    for component in components.values():
        if not component.external():
            component.start()
    port = os.environ.get("LOGSENTINEL_PORT", "8000")
    base = f"http://127.0.0.1:{port}"
    password = admin_password()
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": demo_database(
            components["postgres"].external() or components["postgres"].address()
        ),
        "LOGSENTINEL_JWT_SECRET": secrets.token_hex(32),
        "LOGSENTINEL_ADMIN_USERNAME": ADMIN,
        "LOGSENTINEL_ADMIN_PASSWORD": password,
        "LOGSENTINEL_KUBERNETES": "true",
        "LOGSENTINEL_KUBECONFIG": components["kube"].external() or components["kube"].address(),
        "LOGSENTINEL_HOST": "127.0.0.1",
        "LOGSENTINEL_PORT": port,
        "LOGSENTINEL_MIGRATE_ON_START": "true",
    }
    api = subprocess.Popen([sys.executable, "-m", "logsentinel.cli", "api"], env=environment)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready(f"{base}/readyz"):
            if api.poll() is not None:
                print(f"the API exited ({api.returncode}); its log is above", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"the API was not ready within {READY_TIMEOUT:.0f} s", file=sys.stderr)
                return 1
            time.sleep(0.2)  # polling a condition with a deadline, shown to a person
        print(
            f"\nDashboard: {base}/   log in as {ADMIN} / {password}\n"
            f"API reference: {base}/docs   Ctrl-C stops it.\n",
            flush=True,
        )
        return api.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if api.poll() is None:
            api.terminate()
            api.wait(30)


if __name__ == "__main__":
    sys.exit(main())
