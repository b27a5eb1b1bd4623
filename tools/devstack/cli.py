"""Command line: ``python -m devstack up|down|env|status|build [component...]``,
``python -m devstack images [logsentinel|pause...]`` and
``python -m devstack compose up|down|purge|config|status [override file...]`` and
``python -m devstack compiled`` (the compiled wheel, unpacked: prints its directory)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor

from devstack import compiled, compose, images, log, stack
from devstack.component import Component
from devstack.errors import StackError


def _up(names: list[str]) -> int:
    """Start the components (and those they require) concurrently, each after its requirements;
    each waits for its own health; report all failures."""
    started = time.monotonic()
    local = []
    for comp in stack.with_requirements(names):
        if comp.external():
            log.info("external", component=comp.name, address=comp.external())
        else:
            local.append(comp)
    failures = []
    with ThreadPoolExecutor(max_workers=max(1, len(local))) as pool:
        futures: dict[str, Future[bool]] = {}

        def start_after_requirements(comp: Component) -> bool:
            for required in comp.requires:
                if required in futures:
                    futures[required].result()  # re-raises the requirement's failure
            return comp.start()

        for comp in local:  # start order: requirements are submitted first
            futures[comp.name] = pool.submit(start_after_requirements, comp)
        for comp in local:
            try:
                futures[comp.name].result()
            except StackError as exc:
                failures.append(f"{comp.name}: {exc}")
    if failures:
        raise StackError("\n".join(failures))
    log.info("up", seconds=f"{time.monotonic() - started:.1f}", hint='eval "$(make -s env)"')
    return 0


def _down(names: list[str]) -> int:
    for comp in reversed(stack.select(names)):
        if not comp.external():
            comp.stop()
    log.info("down")
    return 0


def _env(names: list[str]) -> int:
    for comp in stack.select(names):
        exports = comp.exports()
        if not exports:
            log.warn("not-running", component=comp.name, hint="run `make up` first")
        for key, value in exports.items():
            if key == "PATH":  # prepend the cached tool directories to the caller's PATH
                print(f'export PATH={shlex.quote(value)}:"$PATH"')
            else:
                print(f"export {key}={shlex.quote(value)}")
    return 0


def _status(names: list[str]) -> int:
    """One line per component, then one per process with its pid, RSS and peak RSS."""
    code = 0
    total_rss = total_hwm = 0
    for comp in stack.select(names):
        if comp.external():
            print(f"{comp.name:24} external  {comp.external()}")
            continue
        if comp.running():
            print(f"{comp.name:24} running   {comp.address()}")
        else:
            print(f"{comp.name:24} stopped")
            code = 3
        for daemon in comp.daemons():
            pid = daemon.pid()
            if pid is None:
                continue
            rss, hwm = daemon.memory_kib()
            total_rss, total_hwm = total_rss + rss, total_hwm + hwm
            print(f"  {daemon.name:23} pid={pid:<8} rss={rss // 1024}MiB peak={hwm // 1024}MiB")
    print(f"{'total':24} rss={total_rss // 1024}MiB peak={total_hwm // 1024}MiB (sum of peaks)")
    return code


def _build(names: list[str]) -> int:
    for comp in stack.select(names or list(stack.ORDER + stack.OPTIONAL)):
        comp.build()
    return 0


def _images(names: list[str]) -> int:
    images.build_all(names)
    return 0


def _archives(names: list[str]) -> int:
    """Build the images and print each one's OCI archive path (for ``kind load image-archive``)."""
    for tags in images.build_all(names):
        for tag in tags.split():
            print(images.oci_archive(tag))
    return 0


COMMANDS = {
    "up": _up,
    "down": _down,
    "env": _env,
    "status": _status,
    "build": _build,
    "images": _images,
    "archives": _archives,
    "compose": compose.main,
    "compiled": compiled.main,
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one command; StackErrors become a message and exit code 1."""
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument(
        "components",
        nargs="*",
        help=f"subset of: {' '.join(stack.ORDER + stack.OPTIONAL)} (images, archives:"
        f" {' '.join(images.IMAGES)}; compose: an action, then override files)",
    )
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args.components)
    except StackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
