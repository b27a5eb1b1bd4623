"""Every example is valid for the domain models and the generated CRD schema; every broken
variant is rejected by both, with an error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from logsentinel.domain import DetectorType, InvalidResourceError, PlaybookMode, parse_manifest
from logsentinel.domain.crd import all_definitions
from support.broken import EXAMPLES, NAMESPACES_EXAMPLE, VARIANTS, BrokenVariant, resource_examples
from support.crd_schema import schema_problems

CRDS = {
    definition["spec"]["names"]["kind"]: definition for definition in all_definitions().values()
}
EXAMPLE_FILES = resource_examples()


def _load(path: Path) -> dict[str, object]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_is_valid_for_models_and_crd(path: Path) -> None:
    document = _load(path)
    resource = parse_manifest(document, str(path))
    assert resource.metadata.name == document["metadata"]["name"]  # type: ignore[index]
    assert schema_problems(CRDS[resource.INFO.kind], document) == []


def test_examples_cover_every_detector_and_mode() -> None:
    resources = [parse_manifest(_load(path)) for path in EXAMPLE_FILES]
    detectors = {r.spec.detector.type for r in resources if r.kind == "DetectionRule"}
    modes = [r.spec.mode for r in resources if r.kind == "Playbook"]
    assert detectors == set(DetectorType)
    assert set(modes) == set(PlaybookMode)
    agents = sorted(r.spec.agent.type.value for r in resources if r.kind == "LogPipeline")
    assert agents == ["fluentBit", "otelCollector"]


def test_auto_playbook_restarts_rolls_back_and_notifies() -> None:
    playbook = parse_manifest(_load(EXAMPLES / "playbooks/auto-restart-then-rollback.yaml"))
    step_types = [step.type.value for step in playbook.spec.steps]
    assert {"rolloutRestart", "notify", "verify"} <= set(step_types)
    assert playbook.spec.on_failure.value == "rollback"
    assert playbook.spec.steps[0].notify.webhook is not None


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_broken_variant_rejected_by_models_naming_field(variant: BrokenVariant) -> None:
    with pytest.raises(InvalidResourceError) as raised:
        parse_manifest(variant.document(), variant.id)
    paths = [problem.path for problem in raised.value.problems]
    assert variant.field in paths, raised.value
    assert variant.id in str(raised.value)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.schema_field], ids=lambda v: v.id)
def test_broken_variant_rejected_by_crd_schema_naming_field(variant: BrokenVariant) -> None:
    document = variant.document()
    problems = schema_problems(CRDS[document["kind"]], document)
    assert problems, "the CRD schema accepted a broken document"
    expected = variant.schema_field.replace("[", ".").replace("]", "")  # type: ignore[union-attr]
    assert any(problem.startswith(expected) for problem in problems), problems


def test_kubectl_apply_recursive_creates_every_namespace_before_its_objects() -> None:
    """kubectl walks a directory in name order: the Namespace file must come first, and name
    every namespace the examples use."""
    created = {
        document["metadata"]["name"]
        for document in yaml.safe_load_all(NAMESPACES_EXAMPLE.read_text())
        if document["kind"] == "Namespace"
    }
    used = {_load(path)["metadata"]["namespace"] for path in EXAMPLE_FILES}  # type: ignore[index]
    assert used <= created
    walk_order = sorted(str(path.relative_to(EXAMPLES)) for path in EXAMPLES.rglob("*.yaml"))
    assert walk_order[0] == NAMESPACES_EXAMPLE.name
