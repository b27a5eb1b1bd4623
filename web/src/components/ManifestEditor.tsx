import { useId, useMemo, useRef, useState } from "react";
import type { FormEvent } from "react";
import { messageOf } from "../api/errors";
import type { Manifest, Outcome, ResourceKind, Spec } from "../api/resources";
import { backtestRule, putManifest, ruleManifest } from "../api/resources";
import type { BacktestResult as Result } from "../api/types";
import type { Refusal } from "../api/validation";
import type { FieldPath } from "../lib/yamlSource";
import { lineOfPath, parseYaml } from "../lib/yamlSource";
import { toYaml } from "../lib/yaml";
import { BACKTEST_RANGES, BacktestResult } from "./BacktestResult";
import type { EditorProblem } from "./EditorProblem";
import { EditorProblemNotice } from "./EditorProblem";
import type { YamlFieldHandle } from "./YamlField";
import { YamlField } from "./YamlField";

/** What a new object starts from: small, and valid as it is. */
export const EXAMPLE_SPECS: Record<ResourceKind, string> = {
  rules: [
    "description: Errors in the shop's services",
    "selector:",
    "  namespaces:",
    "    - shop",
    "match:",
    "  levels:",
    "    - error",
    "detector:",
    "  type: threshold",
    "  threshold:",
    "    count: 5",
    "    window: 1m",
    "severity: high",
    "incidentType: ErrorBurst",
    "",
  ].join("\n"),
  playbooks: [
    "description: Restart a workload that keeps failing",
    "triggers:",
    "  incidentTypes:",
    "    - ErrorBurst",
    "mode: dryRun",
    "steps:",
    "  - type: rolloutRestart",
    "",
  ].join("\n"),
};

const SINGULAR: Record<ResourceKind, string> = { rules: "rule", playbooks: "playbook" };

interface ManifestEditorProps {
  kind: ResourceKind;
  /** The object to replace; none to create one. */
  existing?: Manifest;
  /** Offer a backtest of the rule being edited (rules only). */
  backtest: boolean;
  onSaved: (saved: Manifest, created: boolean) => void;
  onCancel: () => void;
}

function isSpec(value: unknown): value is Spec {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function headingOf(action: "save" | "backtest"): string {
  return action === "save" ? "Not saved; the API found these problems" : "Not backtested; the API found these problems";
}

function problemOf(refusal: Refusal, action: "save" | "backtest"): EditorProblem {
  if ("fields" in refusal) {
    return { kind: "fields", heading: headingOf(action), fields: refusal.fields };
  }
  return { kind: "message", heading: action === "save" ? "Not saved" : "Not backtested", message: refusal.message };
}

/** The message for a metadata field (namespace, name) among the problems, if any. */
function metadataProblem(problem: EditorProblem | undefined, field: "namespace" | "name"): string | undefined {
  if (problem?.kind !== "fields") {
    return undefined;
  }
  return problem.fields.find((f) => f.path[0] === "metadata" && f.path[1] === field)?.message;
}

/** Edit a rule's or a playbook's spec as YAML, or write a new one: the YAML is read here (a
 * syntax error is shown with its line), the API validates the rest (its errors are shown
 * against each field, with the field's line). Saving is a PUT of the spec. */
export function ManifestEditor({ kind, existing, backtest, onSaved, onCancel }: ManifestEditorProps) {
  const id = useId();
  const [namespace, setNamespace] = useState(existing?.metadata.namespace ?? "default");
  const [name, setName] = useState(existing?.metadata.name ?? "");
  const [text, setText] = useState(() => (existing ? toYaml(existing.spec) : EXAMPLE_SPECS[kind]));
  const [problem, setProblem] = useState<EditorProblem>();
  const [busy, setBusy] = useState<"save" | "backtest">();
  const [hours, setHours] = useState<number>(1);
  const [result, setResult] = useState<Result>();
  const yamlRef = useRef<YamlFieldHandle>(null);
  const problemId = `${id}-problem`;
  const singular = SINGULAR[kind];

  const lineOf = (path: FieldPath) => (path[0] === "spec" && path.length > 1 ? lineOfPath(text, path.slice(1)) : undefined);
  const markedLines = useMemo(() => {
    if (problem?.kind === "syntax") {
      return new Set([problem.line]);
    }
    if (problem?.kind !== "fields") {
      return new Set<number>();
    }
    const lines = problem.fields.map((f) => (f.path[0] === "spec" ? lineOfPath(text, f.path.slice(1)) : undefined));
    return new Set(lines.filter((line): line is number => line !== undefined));
  }, [problem, text]);

  /** The spec typed, or undefined with the problem shown. */
  function readSpec(): Spec | undefined {
    const parsed = parseYaml(text);
    if (!parsed.ok) {
      setProblem({ kind: "syntax", message: parsed.message, line: parsed.line });
      return undefined;
    }
    if (!isSpec(parsed.value)) {
      setProblem({ kind: "syntax", message: "the spec must be a mapping of fields (key: value)", line: 1 });
      return undefined;
    }
    const missing = (["namespace", "name"] as const).filter((field) => !(field === "name" ? name : namespace).trim());
    if (missing.length) {
      const fields = missing.map((field) => ({ path: ["metadata", field], message: "required" }));
      setProblem({ kind: "fields", heading: `The ${singular} needs a namespace and a name`, fields });
      return undefined;
    }
    return parsed.value;
  }

  async function attempt<T>(action: "save" | "backtest", request: (spec: Spec) => Promise<Outcome<T>>): Promise<Outcome<T> | undefined> {
    const spec = readSpec();
    if (!spec) {
      return undefined;
    }
    setBusy(action);
    setProblem(undefined);
    try {
      const outcome = await request(spec);
      if (!outcome.ok) {
        setProblem(problemOf(outcome.refusal, action));
      }
      return outcome;
    } catch (failure) {
      setProblem({ kind: "message", heading: action === "save" ? "Not saved" : "Not backtested", message: messageOf(failure) });
      return undefined;
    } finally {
      setBusy(undefined);
    }
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    const outcome = await attempt("save", (spec) => putManifest(kind, namespace.trim(), name.trim(), spec));
    if (outcome?.ok) {
      onSaved(outcome.data, outcome.created);
    }
  }

  async function runBacktest() {
    setResult(undefined);
    const outcome = await attempt("backtest", (spec) => backtestRule(ruleManifest(namespace.trim(), name.trim(), spec), hours));
    if (outcome?.ok) {
      setResult(outcome.data);
    }
  }

  const namespaceProblem = metadataProblem(problem, "namespace");
  const nameProblem = metadataProblem(problem, "name");
  return (
    <form className="editor" onSubmit={(event) => void save(event)} aria-label={existing ? `Edit ${namespace}/${name}` : `New ${singular}`} noValidate>
      {existing ? (
        <p className="muted small">
          Saving replaces the whole spec of {namespace}/{name}.
          {existing.metadata.labels && Object.keys(existing.metadata.labels).length > 0 && " Its labels are not kept: the API takes the spec only."}
        </p>
      ) : (
        <div className="editor-names">
          <MetadataInput id={`${id}-namespace`} label="Namespace" value={namespace} onChange={setNamespace} problem={namespaceProblem} />
          <MetadataInput id={`${id}-name`} label="Name" value={name} onChange={setName} problem={nameProblem} />
        </div>
      )}
      <YamlField
        ref={yamlRef}
        id={`${id}-spec`}
        label="Spec (YAML)"
        value={text}
        onChange={setText}
        markedLines={markedLines}
        invalid={markedLines.size > 0}
        describedBy={problem ? problemId : undefined}
      />
      <EditorProblemNotice id={problemId} problem={problem} lineOf={lineOf} onGoToLine={(line) => yamlRef.current?.goToLine(line)} />
      <div className="button-row">
        <button type="submit" disabled={busy !== undefined}>
          {busy === "save" ? "Saving…" : existing ? "Save" : `Create ${singular}`}
        </button>
        <button type="button" className="button-secondary" onClick={onCancel} disabled={busy !== undefined}>
          Cancel
        </button>
      </div>
      {backtest && (
        <fieldset className="backtest">
          <legend>Backtest over stored logs</legend>
          <div className="button-row">
            <label htmlFor={`${id}-range`}>Range</label>
            <select id={`${id}-range`} value={hours} onChange={(event) => setHours(Number(event.target.value))}>
              {BACKTEST_RANGES.map((range) => (
                <option key={range.hours} value={range.hours}>{range.label}</option>
              ))}
            </select>
            <button type="button" className="button-secondary" onClick={() => void runBacktest()} disabled={busy !== undefined}>
              {busy === "backtest" ? "Backtesting…" : "Backtest"}
            </button>
          </div>
          {result && <BacktestResult result={result} />}
        </fieldset>
      )}
    </form>
  );
}

interface MetadataInputProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  problem: string | undefined;
}

function MetadataInput({ id, label, value, onChange, problem }: MetadataInputProps) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        required
        autoComplete="off"
        spellCheck={false}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? `${id}-problem` : undefined}
        onChange={(event) => onChange(event.target.value)}
      />
      {problem && (
        <p id={`${id}-problem`} className="field-error">
          {label}: {problem}
        </p>
      )}
    </div>
  );
}
