"""Building Go programs from the Go module proxy into version-keyed cache directories.

The module and build caches live under the devstack cache root too (``go/mod``,
``go/build-<go version>``) so that the whole toolchain cache is self-contained and can be
measured or deleted as one directory. ``-modcacherw`` keeps the module cache deletable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devstack import log, paths
from devstack.errors import MissingPrerequisite, StackError
from devstack.proc import require_tool, run_logged, save_json

GO_HINT = (
    "Install Go >= 1.24 (the go.dev/dl tarball; Debian bookworm's golang package is too old)"
    " and put `go` on PATH."
)


def go_binary() -> str:
    """Path of the ``go`` command, or a MissingPrerequisite explaining how to get it."""
    return require_tool("go", "to build the Kubernetes control plane, etcd, kwok and helm", GO_HINT)


def go_version() -> str:
    """Version of the local Go toolchain, e.g. ``go1.26.8``."""
    out = subprocess.run(
        [go_binary(), "env", "GOVERSION"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def require_go_at_least(required: str) -> None:
    """Fail when the local Go is older than a module's ``go`` directive (e.g. ``1.24.0``)."""
    have = go_version().removeprefix("go").split("-")[0]

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".") if part.isdigit())

    if key(have) < key(required):
        raise MissingPrerequisite(
            f"Go {have} is older than the {required} the pinned modules need. {GO_HINT}"
        )


def go_env() -> dict[str, str]:
    """Environment for every go command: local toolchain only, static binaries, shared caches."""
    root = paths.cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / f"build-{go_version()}"),
        GOFLAGS=f"-p={os.environ.get('LOGSENTINEL_BUILD_JOBS', '2')} -modcacherw -buildvcs=false",
    )
    env.pop("GOPATH", None)
    env["GOPATH"] = str(root / "path")
    return env


def require_plain_module(module: str, version: str, log_file: Path) -> None:
    """Check that a module builds plainly (`go install`): no ``replace`` directives
    (a wrapper module would have to repeat them, as devstack.kubebuild does) and a local Go at
    least as new as the module asks."""
    gomod = module_gomod(module, version, log_file)
    if re.search(r"^replace\b", gomod, re.MULTILINE):
        raise StackError(
            f"{module}@{version} has replace directives, so a plain build cannot work; build it"
            " from a wrapper module that repeats them (see devstack.kubebuild)"
        )
    go_line = re.search(r"^go (\S+)$", gomod, re.MULTILINE)
    if go_line is not None:
        require_go_at_least(go_line.group(1))


def module_gomod(module: str, version: str, log_file: Path) -> str:
    """Text of a module's go.mod, fetched through the module proxy."""
    out = subprocess.run(
        [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(out.stdout + out.stderr)
        raise StackError(f"cannot download {module}@{version} (see {log_file}):\n{out.stderr}")
    info = json.loads(out.stdout)
    return Path(info["GoMod"]).read_text()


def count_deps(packages: Sequence[str], cwd: Path, log_file: Path) -> int:
    """Number of packages (std included) that building ``packages`` involves; downloads the
    needed modules as a side effect. Used as the denominator of build progress."""
    listing = log_file.with_suffix(".deps")
    run_logged(
        [go_binary(), "list", "-mod=mod", "-deps", "-f", "{{.ImportPath}}", *packages],
        log_file=log_file,
        label="go list (download modules)",
        env=go_env(),
        cwd=cwd,
        stdout_file=listing,
        progress=lambda n: f"{n} modules downloaded",
    )
    return len(listing.read_text().splitlines())


def build_packages(
    packages: Sequence[str],
    *,
    cwd: Path,
    out_dir: Path,
    ldflags: str,
    log_file: Path,
    label: str,
) -> None:
    """``go build -v`` the main ``packages`` into ``out_dir``, logging progress as a fraction of
    the dependency graph compiled so far (cached packages are not printed, so it may finish early).
    """
    total = count_deps(packages, cwd, log_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_logged(
        [
            go_binary(), "build", "-mod=mod", "-v", "-trimpath",
            "-ldflags", ldflags, "-o", str(out_dir) + "/", *packages,
        ],
        log_file=log_file,
        label=label,
        env=go_env(),
        cwd=cwd,
        progress=lambda n: f"{min(n, total)}/{total} packages compiled",
    )  # fmt: skip


def install_tool(
    package: str, version: str, *, bin_dir: Path, ldflags: str, log_file: Path
) -> None:
    """``go install package@version`` into ``bin_dir`` (for modules without replace directives)."""
    env = go_env()
    env["GOBIN"] = str(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    run_logged(
        [go_binary(), "install", "-v", "-trimpath", "-ldflags", ldflags, f"{package}@{version}"],
        log_file=log_file,
        label=f"go install {package}@{version}",
        env=env,
        progress=lambda n: f"{n} packages compiled",
    )


def mark_complete(directory: Path, started: float, **details: object) -> None:
    """Record a finished build (and how long it took) in ``directory/build.json``."""
    seconds = round(time.monotonic() - started, 1)
    save_json(directory / "build.json", {"seconds": seconds, "go": go_version(), **details})
    log.info("built", directory=directory, seconds=seconds)


def is_complete(directory: Path, binaries: Sequence[str]) -> bool:
    """True when ``directory`` holds a finished build with all ``binaries`` in ``bin/``."""
    return (directory / "build.json").is_file() and all(
        (directory / "bin" / name).is_file() for name in binaries
    )
