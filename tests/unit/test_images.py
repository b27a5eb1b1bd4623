"""Image tooling without podman: the base image's cache key, build progress, the version."""

from __future__ import annotations

import pytest

from devstack import images


def test_the_base_key_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = images.base_tag()
    assert before == images.base_tag()
    assert before.startswith("localhost/logsentinel-base:bookworm-")
    monkeypatch.setattr(images, "BASE_PACKAGES", (*images.BASE_PACKAGES, "tzdata"))
    assert images.base_tag() != before


@pytest.mark.parametrize(
    ("line", "is_step"),
    [
        ("[1/2] STEP 5/9: RUN --mount=type=secret,id=ca set -eu;", True),
        ("STEP 4/6: COPY pause /pause", True),
        ("--> Using cache 75c886d0bbe7", False),
        ("Collecting drain3>=0.9.11", False),
    ],
)
def test_build_steps_are_reported(line: str, is_step: bool) -> None:
    assert bool(images.STEP_LINE.match(line)) is is_step


def test_the_image_version_is_the_package_version() -> None:
    from logsentinel import __version__

    assert images.project_version() == __version__
