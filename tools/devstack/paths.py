"""Where state (``.stack/``) and caches (``~/.cache/logsentinel``) live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def state_root() -> Path:
    """Directory for runtime state and logs: ``<repo>/.stack`` or ``$LOGSENTINEL_STATE_DIR``."""
    override = os.environ.get("LOGSENTINEL_STATE_DIR")
    return Path(override) if override else REPO_ROOT / ".stack"


def cache_root() -> Path:
    """Directory for downloads and builds: ``$LOGSENTINEL_CACHE_DIR`` or ~/.cache/logsentinel."""
    override = os.environ.get("LOGSENTINEL_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "logsentinel"


def cache_dir(component: str, version: str) -> Path:
    """Version-keyed cache directory of one component, e.g. ``kafka-3.9.1``."""
    return cache_root() / f"{component}-{version}"


def state_dir(component: str) -> Path:
    """State directory of one component, created on demand."""
    path = state_root() / component
    path.mkdir(parents=True, exist_ok=True)
    return path
