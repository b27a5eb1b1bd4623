"""The node agent's build recipe: the manifest's checks and the go.mod written from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import otelbuild
from devstack.errors import StackError


def test_go_mod_requires_every_component_the_core_and_keeps_the_replaces() -> None:
    document = otelbuild.manifest()
    text = otelbuild.go_mod(document)
    assert text.startswith(f"module {document['dist']['module']}\n")
    for kind in ("receivers", "processors", "exporters", "extensions", "providers"):
        for entry in document[kind]:
            assert f"\t{entry['gomod']}\n" in text
    assert f"\tgo.opentelemetry.io/collector/otelcol {otelbuild.OCB_VERSION}\n" in text
    for line in document["replaces"]:
        assert f"\t{line}\n" in text


def test_the_agent_has_what_the_pipeline_needs() -> None:
    modules = " ".join(
        entry["gomod"]
        for kind in ("receivers", "processors", "exporters", "extensions")
        for entry in otelbuild.manifest()[kind]
    )
    for component in ("filelogreceiver", "k8sattributesprocessor", "kafkaexporter", "filestorage"):
        assert f"/{component} " in modules


def test_a_manifest_whose_module_does_not_end_with_its_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "builder-config.yaml"
    manifest.write_text("dist: {module: example.com/agent, name: collector, version: 1.0.0}\n")
    monkeypatch.setattr(otelbuild, "MANIFEST", manifest)
    with pytest.raises(StackError, match=r"dist\.module must end with dist\.name"):
        otelbuild.manifest()
