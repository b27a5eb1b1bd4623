"""Build Log Sentinel's node agent, an OpenTelemetry Collector distribution, from the Go module
proxy: ``images/otelcol/builder-config.yaml`` lists its components.

The OpenTelemetry Collector Builder (ocb, run with ``go run`` at OCB_VERSION) only generates the
sources (``--skip-get-modules``): its own ``go mod tidy`` also resolves the components' test
dependencies, some of which the module proxy does not serve. The go.mod is written here from the
manifest (every component, the collector core, the manifest's ``replaces``) and ``go build
-mod=mod`` resolves what the program imports, nothing more. The binary is cached under
``otelcol-<version>-<manifest hash>/`` and becomes the context of ``images/otelcol/Containerfile``.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from devstack import gobuild, log, paths
from devstack.errors import StackError
from devstack.proc import run_logged

OCB_VERSION = "v0.165.0"
# The collector core modules the generated main.go imports; they share the builder's version.
CORE_MODULES = ("go.opentelemetry.io/collector/otelcol", "go.opentelemetry.io/collector/service")
SOURCE = paths.REPO_ROOT / "images" / "otelcol"
MANIFEST = SOURCE / "builder-config.yaml"
COMPONENT_KINDS = ("receivers", "processors", "exporters", "extensions", "connectors", "providers")


def manifest() -> dict[str, Any]:
    """The builder manifest, checked for what this build relies on."""
    document = yaml.safe_load(MANIFEST.read_text())
    if not isinstance(document, dict) or not isinstance(document.get("dist"), dict):
        raise StackError(f"{MANIFEST}: no `dist` section")
    dist = document["dist"]
    for key in ("module", "name", "version"):
        if not dist.get(key):
            raise StackError(f"{MANIFEST}: dist.{key} is missing")
    if str(dist["module"]).rsplit("/", 1)[-1] != dist["name"]:
        # `go build -o dir/` names the binary after the module path's last element
        raise StackError(f"{MANIFEST}: dist.module must end with dist.name ({dist['name']})")
    return document


def binary_name() -> str:
    return str(manifest()["dist"]["name"])


def version() -> str:
    """The distribution's version (``dist.version``): the image tag."""
    return str(manifest()["dist"]["version"])


def go_mod(document: dict[str, Any]) -> str:
    """go.mod of the generated distribution: the manifest's modules, the core, its replaces."""
    requires = [entry["gomod"] for kind in COMPONENT_KINDS for entry in document.get(kind) or []]
    requires += [f"{module} {OCB_VERSION}" for module in CORE_MODULES]
    for line in requires:
        if len(line.split()) != 2:
            raise StackError(f"{MANIFEST}: `{line}` is not `module version`")
    lines = [f"module {document['dist']['module']}", "", "go 1.26.0", "", "require ("]
    lines += [f"\t{line}" for line in requires]
    lines.append(")")
    replaces = document.get("replaces") or []
    if replaces:
        lines += ["", "replace ("] + [f"\t{line}" for line in replaces] + [")"]
    return "\n".join(lines) + "\n"


def build_dir() -> Path:
    digest = hashlib.sha256(f"{OCB_VERSION}\n{MANIFEST.read_text()}".encode()).hexdigest()[:12]
    return paths.cache_dir("otelcol", f"{version()}-{digest}")


def build_binary() -> Path:
    """The agent's static binary, built once per builder version and manifest."""
    directory = build_dir()
    name = binary_name()
    if gobuild.is_complete(directory, [name]):
        return directory / "bin" / name
    started = time.monotonic()
    log.info("build", component="otelcol", version=version(), cache=directory)
    document = manifest()
    work = directory / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(MANIFEST, work / MANIFEST.name)
    log_file = directory / "build.log"
    run_logged(
        [
            gobuild.go_binary(), "run", f"go.opentelemetry.io/collector/cmd/builder@{OCB_VERSION}",
            "--config", MANIFEST.name, "--skip-get-modules", "--skip-compilation",
        ],
        log_file=log_file,
        label=f"ocb {OCB_VERSION} (generate sources)",
        env=gobuild.go_env(),
        cwd=work,
    )  # fmt: skip
    sources = work / str(document["dist"].get("output_path", "./src"))
    if not (sources / "components.go").is_file():
        raise StackError(f"ocb wrote no components.go in {sources} (see {log_file})")
    (sources / "go.mod").write_text(go_mod(document))
    gobuild.build_packages(
        ["."],
        cwd=sources,
        out_dir=directory / "bin",
        ldflags="-s -w",
        log_file=log_file,
        label=f"go build {name}",
    )
    gobuild.mark_complete(directory, started, version=version(), ocb=OCB_VERSION)
    return directory / "bin" / name
