"""Docker Compose v2 from the Go module proxy: the Compose client of the ``compose`` component.

This machine has the ``docker`` CLI but no Compose plugin, and no registry to fetch one from.
``github.com/docker/compose/v2`` has no ``replace`` directives, so its command builds from a
tiny wrapper module (as etcd does in ``kubebuild``), which gives the build a package count for
its progress. The binary is cached as ``compose-<version>/bin/docker-compose``; it works both
standalone (``docker-compose up``) and as the CLI plugin ``docker compose`` (the ``compose``
component links it into a ``cli-plugins`` directory of its own ``DOCKER_CONFIG``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from devstack import gobuild, log, paths

COMPOSE_VERSION = "v2.40.3"
_MODULE = "github.com/docker/compose/v2"
_COMMAND = f"{_MODULE}/cmd"


def compose_dir() -> Path:
    """Cache directory of the Compose build."""
    return paths.cache_dir("compose", COMPOSE_VERSION)


def binary() -> Path:
    """The built ``docker-compose`` binary (built on first use)."""
    build()
    return compose_dir() / "bin" / "docker-compose"


def build() -> None:
    """Build ``docker-compose`` once per version, after checking that its go.mod allows a
    plain build and that the local Go is new enough."""
    target = compose_dir()
    if gobuild.is_complete(target, ["docker-compose"]):
        return
    started = time.monotonic()
    log.info("build", component="docker-compose", version=COMPOSE_VERSION, cache=target)
    build_log = target / "build.log"
    gobuild.require_plain_module(_MODULE, COMPOSE_VERSION, build_log)
    src = target / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(
        f"module local.logsentinel.devstack/compose\n\ngo 1.24\n\n"
        f"require {_MODULE} {COMPOSE_VERSION}\n"
    )
    gobuild.build_packages(
        [_COMMAND],
        cwd=src,
        out_dir=src / "out",
        ldflags=f"-s -w -X {_MODULE}/internal.Version={COMPOSE_VERSION}",
        log_file=build_log,
        label=f"build docker-compose {COMPOSE_VERSION}",
    )
    (target / "bin").mkdir(exist_ok=True)
    # go names the binary after the package's last path element: "cmd".
    shutil.move(src / "out" / "cmd", target / "bin" / "docker-compose")
    gobuild.mark_complete(target, started, version=COMPOSE_VERSION)
