"""Build the Kubernetes control plane, etcd, kwok and helm from the Go module proxy.

``k8s.io/kubernetes`` requires its staging modules (``k8s.io/api`` ...) at ``v0.0.0`` with
``replace`` directives pointing into its own tree, and a dependency's replace directives are
ignored, so ``go install k8s.io/kubernetes/cmd/...@v1.x`` fails. We therefore generate a small
wrapper module in the cache that requires ``k8s.io/kubernetes`` and replaces every staging
module with its published ``v0.<minor>.<patch>`` twin, copies the upstream ``godebug`` lines, and
builds the commands from it with version ldflags so clients see a real version.
"""

from __future__ import annotations

import datetime
import re
import shutil
import time
from pathlib import Path

from devstack import gobuild, log, paths

KUBE_VERSION = "v1.33.13"
ETCD_VERSION = "v3.5.21"
KWOK_VERSION = "v0.7.0"
HELM_VERSION = "v3.18.6"
# The Kubernetes version helm reports to charts when it has no cluster (`helm template`, lint):
# upstream's Makefile sets it from the client-go it is built with (0.33 for helm 3.18).
HELM_KUBE_VERSION = ("1", "33")

KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
_WRAPPER = "logsentinel.local/devstack-build"


def kube_dir() -> Path:
    """Cache directory of the Kubernetes build."""
    return paths.cache_dir("kubernetes", KUBE_VERSION)


def etcd_dir() -> Path:
    """Cache directory of the etcd build."""
    return paths.cache_dir("etcd", ETCD_VERSION)


def kwok_dir() -> Path:
    """Cache directory of the kwok build."""
    return paths.cache_dir("kwok", KWOK_VERSION)


def helm_dir() -> Path:
    """Cache directory of the helm build."""
    return paths.cache_dir("helm", f"{HELM_VERSION}-k8s{'.'.join(HELM_KUBE_VERSION)}")


def binary(name: str) -> Path:
    """Path of a built binary by command name (kube-apiserver, kubectl, etcd, kwok, helm)."""
    if name in KUBE_COMMANDS:
        return kube_dir() / "bin" / name
    return {"etcd": etcd_dir(), "kwok": kwok_dir(), "helm": helm_dir()}[name] / "bin" / name


def wrapper_gomod(upstream: str, version: str) -> str:
    """go.mod of the wrapper module derived from the upstream ``k8s.io/kubernetes`` go.mod."""
    go_line = re.search(r"^go (\S+)$", upstream, re.MULTILINE)
    godebug = re.findall(r"^godebug .*$", upstream, re.MULTILINE)
    staging = re.findall(r"^\s*(k8s\.io/\S+) => \./staging/src/\S+$", upstream, re.MULTILINE)
    if go_line is None or not staging:
        raise ValueError("unexpected k8s.io/kubernetes go.mod: no go line or staging replaces")
    _major, minor, patch = version.removeprefix("v").split(".")
    published = f"v0.{minor}.{patch}"
    lines = [
        f"module {_WRAPPER}",
        "",
        f"go {go_line.group(1)}",
        "",
        *godebug,
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "replace (",
        *(f"\t{mod} => {mod} {published}" for mod in sorted(set(staging))),
        ")",
        "",
    ]
    return "\n".join(lines)


def _version_ldflags(version: str) -> str:
    major, minor, _ = version.removeprefix("v").split(".")
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={date}",
        ]
    return " ".join(flags)


def build_kubernetes() -> None:
    """Build kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (cached)."""
    target = kube_dir()
    if gobuild.is_complete(target, KUBE_COMMANDS):
        return
    started = time.monotonic()
    log.info("build", component="kubernetes", version=KUBE_VERSION, cache=target)
    build_log = target / "build.log"
    upstream = gobuild.module_gomod("k8s.io/kubernetes", KUBE_VERSION, build_log)
    gomod = wrapper_gomod(upstream, KUBE_VERSION)
    go_line = re.search(r"^go (\S+)$", gomod, re.MULTILINE)
    assert go_line is not None
    gobuild.require_go_at_least(go_line.group(1))
    src = target / "src"
    src.mkdir(parents=True, exist_ok=True)
    if not (src / "go.mod").is_file() or (src / "go.mod").read_text() != gomod:
        (src / "go.mod").write_text(gomod)
        (src / "go.sum").unlink(missing_ok=True)
    gobuild.build_packages(
        [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBE_COMMANDS],
        cwd=src,
        out_dir=target / "bin",
        ldflags=_version_ldflags(KUBE_VERSION),
        log_file=build_log,
        label=f"build kubernetes {KUBE_VERSION}",
    )
    gobuild.mark_complete(target, started, version=KUBE_VERSION, commands=list(KUBE_COMMANDS))


def build_etcd() -> None:
    """Build the etcd server (its module root is a main package) in a tiny wrapper module."""
    target = etcd_dir()
    if gobuild.is_complete(target, ["etcd"]):
        return
    started = time.monotonic()
    log.info("build", component="etcd", version=ETCD_VERSION, cache=target)
    src = target / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(
        f"module {_WRAPPER}-etcd\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
    )
    gobuild.build_packages(
        ["go.etcd.io/etcd/server/v3"],
        cwd=src,
        out_dir=src / "out",
        ldflags="-s -w",
        log_file=target / "build.log",
        label=f"build etcd {ETCD_VERSION}",
    )
    (target / "bin").mkdir(exist_ok=True)
    # go names the binary after the last path element that is not a major version: "server".
    shutil.move(src / "out" / "server", target / "bin" / "etcd")
    gobuild.mark_complete(target, started, version=ETCD_VERSION)


def _go_install_pinned(name: str, package: str, version: str, target: Path, ldflags: str) -> None:
    """go install package@version into target/bin, once per version (cached)."""
    if gobuild.is_complete(target, [name]):
        return
    started = time.monotonic()
    log.info("build", component=name, version=version, cache=target)
    gobuild.install_tool(
        package, version, bin_dir=target / "bin", ldflags=ldflags, log_file=target / "build.log"
    )
    gobuild.mark_complete(target, started, version=version)


def build_kwok() -> None:
    """go install sigs.k8s.io/kwok/cmd/kwok at the pinned version."""
    _go_install_pinned(
        "kwok",
        "sigs.k8s.io/kwok/cmd/kwok",
        KWOK_VERSION,
        kwok_dir(),
        f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",
    )


def build_helm() -> None:
    """go install helm.sh/helm/v3/cmd/helm at the pinned version."""
    _go_install_pinned(
        "helm",
        "helm.sh/helm/v3/cmd/helm",
        HELM_VERSION,
        helm_dir(),
        " ".join(
            [
                "-s -w",
                f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
                *(
                    f"-X helm.sh/helm/v3/pkg/{package}.k8sVersion{part}={value}"
                    for package in ("chartutil", "lint/rules")
                    for part, value in zip(("Major", "Minor"), HELM_KUBE_VERSION, strict=True)
                ),
            ]
        ),
    )


def build_all() -> None:
    """Everything the Kubernetes component needs, plus kubectl and helm for developers."""
    build_etcd()
    build_kubernetes()
    build_kwok()
    build_helm()
