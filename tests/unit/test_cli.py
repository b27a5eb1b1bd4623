"""The logsentinel command: crds (write and --check) and validate."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logsentinel.cli import main
from support.broken import resource_examples

REPO = Path(__file__).resolve().parents[2]


def test_crds_write_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    written = runner.invoke(main, ["crds", "--output", str(tmp_path)])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clusterkopfpeerings.yaml",
        "detectionrules.yaml",
        "incidents.yaml",
        "kopfpeerings.yaml",
        "logpipelines.yaml",
        "playbooks.yaml",
    ]
    assert runner.invoke(main, ["crds", "--output", str(tmp_path), "--check"]).exit_code == 0


def test_check_fails_on_stale_missing_and_extra_files(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["crds", "--output", str(tmp_path)])
    (tmp_path / "playbooks.yaml").write_text("# edited by hand\n")
    (tmp_path / "incidents.yaml").unlink()
    (tmp_path / "old.yaml").write_text("{}\n")
    result = runner.invoke(main, ["crds", "--output", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert f"stale: {tmp_path / 'playbooks.yaml'}" in result.output
    assert "incidents.yaml" in result.output
    assert "not generated (remove it): " in result.output


def test_validate_examples_passes() -> None:
    result = CliRunner().invoke(main, ["validate", str(REPO / "examples")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line[:2] for line in lines].count("ok") == len(resource_examples())
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 2, "the two Namespaces are not Log Sentinel's to judge"
    assert all("v1 Namespace" in line for line in skipped)


def test_validate_reports_each_bad_document_with_paths(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "kind: DetectionRule\n"
        "apiVersion: logsentinel.io/v1alpha1\n"
        "metadata: {name: r}\n"
        "spec: {severity: high, incidentType: X, detector: {type: threshold, threshold: {count: -1}}}\n"
        "---\n"
        "kind: Mystery\n"
    )
    (tmp_path / "broken.yaml").write_text("spec: [unclosed\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "spec.detector.threshold.count" in result.output
    assert "bad.yaml#1" in result.output
    assert "kind: must be one of" in result.output
    assert "invalid YAML" in result.output
    assert "3 invalid document(s)" in result.output
