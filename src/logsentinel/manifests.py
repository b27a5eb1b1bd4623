"""Read Kubernetes manifests from YAML files and validate them against the domain models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from logsentinel.domain import API_GROUP, CustomResource, InvalidResourceError, parse_manifest
from logsentinel.domain.errors import FieldProblem, one_line
from logsentinel.domain.resources import DetectionRule

R = TypeVar("R", bound=CustomResource[Any, Any])


@dataclass(frozen=True)
class ManifestResult:
    """The outcome of validating one YAML document."""

    source: str
    resource: CustomResource[Any, Any] | None
    problems: list[FieldProblem]
    skipped: str = ""
    """Why the document was not validated: an object of another API (a Namespace beside the
    rules, say), which is not Log Sentinel's to judge."""


def yaml_files(paths: list[Path]) -> Iterator[Path]:
    """Every ``*.yaml``/``*.yml`` file named or found below the given paths, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def validate_file(path: Path) -> list[ManifestResult]:
    """Validate each document of a YAML file; unreadable files, text that is not UTF-8 and YAML
    syntax errors are reported, not raised. A file deleted since it was listed (another writer
    removed it) has no documents."""
    try:
        text = path.read_text(encoding="utf-8")
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        problem = "invalid YAML" if isinstance(error, yaml.YAMLError) else "unreadable"
        return [ManifestResult(str(path), None, [FieldProblem("", f"{problem}: {reason}")])]
    results = []
    for index, document in enumerate(documents):
        source = f"{path}#{index}" if len(documents) > 1 else str(path)
        foreign = foreign_kind(document)
        if foreign is not None:
            results.append(ManifestResult(source, None, [], skipped=foreign))
            continue
        try:
            results.append(ManifestResult(source, parse_manifest(document, source), []))
        except InvalidResourceError as error:
            results.append(ManifestResult(source, None, error.problems))
    return results


def foreign_kind(document: object) -> str | None:
    """``"v1 Namespace"`` for an object of another API group; None for Log Sentinel's (and for
    anything that is not an object, which validation reports)."""
    if not isinstance(document, dict):
        return None
    api_version = str(document.get("apiVersion", ""))
    if not api_version or api_version.split("/")[0] == API_GROUP:
        return None
    return f"{api_version} {document.get('kind', '?')}"


@dataclass(frozen=True)
class Loaded(Generic[R]):
    """The resources of one kind found in some files, and the documents that were refused (and
    why)."""

    resources: list[R]
    refused: dict[str, str]


@dataclass(frozen=True)
class RuleLoad:
    """The DetectionRules found in some files, and the documents that were refused (and why)."""

    rules: list[DetectionRule]
    refused: dict[str, str]


def load_resources(paths: list[Path], kind: type[R]) -> Loaded[R]:
    """Every resource of ``kind`` under paths; other kinds are ignored, invalid documents (of
    any kind) reported."""
    found: list[R] = []
    refused: dict[str, str] = {}
    for path in yaml_files(paths):
        for result in validate_file(path):
            if result.problems:
                refused[result.source] = one_line(result.problems)
            elif isinstance(result.resource, kind):
                found.append(result.resource)
    return Loaded(found, refused)


def load_rules(paths: list[Path]) -> RuleLoad:
    """Every DetectionRule under paths; other kinds are ignored, invalid documents reported."""
    loaded = load_resources(paths, DetectionRule)
    return RuleLoad(loaded.resources, loaded.refused)
