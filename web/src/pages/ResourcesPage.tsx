import { useState } from "react";
import { api } from "../api/client";
import { unwrap } from "../api/errors";
import type { DetectionRule, Playbook } from "../api/types";
import { ErrorNotice, PageTitle, SeverityBadge, TableScroll, UpdatedAt } from "../components/common";
import { usePolling } from "../lib/usePolling";
import { toYaml } from "../lib/yaml";

export type ResourceKind = "rules" | "playbooks";
type Manifest = DetectionRule | Playbook;

async function loadRules(): Promise<Manifest[]> {
  return unwrap(await api.GET("/api/v1/rules"));
}

async function loadPlaybooks(): Promise<Manifest[]> {
  return unwrap(await api.GET("/api/v1/playbooks"));
}

function idOf(manifest: Manifest): string {
  return `${manifest.metadata.namespace ?? ""}/${manifest.metadata.name}`;
}

function isRule(manifest: Manifest): manifest is DetectionRule {
  return "detector" in manifest.spec;
}

function RuleColumns({ rule }: { rule: DetectionRule }) {
  return (
    <>
      <td><SeverityBadge severity={rule.spec.severity} /></td>
      <td>{rule.spec.incidentType}</td>
      <td>{rule.spec.detector.type}</td>
    </>
  );
}

function PlaybookColumns({ playbook }: { playbook: Playbook }) {
  const triggers = playbook.spec.triggers?.incidentTypes ?? [];
  return (
    <>
      <td>{playbook.spec.mode ?? "dryRun"}</td>
      <td>{triggers.length ? triggers.join(", ") : "any"}</td>
      <td>{playbook.spec.steps.map((step) => step.type).join(" → ")}</td>
    </>
  );
}

export function ResourcesPage({ kind }: { kind: ResourceKind }) {
  const listed = usePolling(kind === "rules" ? loadRules : loadPlaybooks, kind, null);
  const [selected, setSelected] = useState<string>();
  const [format, setFormat] = useState<"yaml" | "json">("yaml");
  const title = kind === "rules" ? "Detection rules" : "Playbooks";
  const items = listed.data ?? [];
  const shown = items.find((item) => idOf(item) === selected);

  return (
    <>
      <div className="page-head">
        <PageTitle>{title}</PageTitle>
        <button type="button" className="button-secondary" onClick={listed.reload} disabled={listed.loading}>
          Refresh
        </button>
        <UpdatedAt at={listed.updatedAt} loading={listed.loading} />
      </div>
      <p className="muted">Read-only here; change them with kubectl or the API.</p>
      <ErrorNotice message={listed.error} />
      {listed.data && items.length === 0 && <p className="muted">None.</p>}
      {items.length > 0 && (
        <TableScroll label={title}>
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                {kind === "rules" ? (
                  <><th scope="col">Severity</th><th scope="col">Incident type</th><th scope="col">Detector</th></>
                ) : (
                  <><th scope="col">Mode</th><th scope="col">Triggers</th><th scope="col">Steps</th></>
                )}
                <th scope="col"><span className="visually-hidden">Manifest</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={idOf(item)} className={idOf(item) === selected ? "row-selected" : undefined}>
                  <td>
                    {idOf(item)}
                    {item.spec.description && <div className="muted small">{item.spec.description}</div>}
                  </td>
                  {isRule(item) ? <RuleColumns rule={item} /> : <PlaybookColumns playbook={item as Playbook} />}
                  <td>
                    <button
                      type="button"
                      className="button-secondary"
                      aria-pressed={idOf(item) === selected}
                      onClick={() => setSelected(idOf(item) === selected ? undefined : idOf(item))}
                    >
                      {idOf(item) === selected ? "Hide" : "Show"}<span className="visually-hidden"> {idOf(item)}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {shown && (
        <section className="card" aria-labelledby="manifest-title">
          <div className="page-head">
            <h2 id="manifest-title">{idOf(shown)}</h2>
            <fieldset className="segmented">
              <legend className="visually-hidden">Format</legend>
              {(["yaml", "json"] as const).map((f) => (
                <span key={f} className="checkbox">
                  <input type="radio" id={`format-${f}`} name="format" checked={format === f} onChange={() => setFormat(f)} />
                  <label htmlFor={`format-${f}`}>{f.toUpperCase()}</label>
                </span>
              ))}
            </fieldset>
          </div>
          <pre className="manifest" tabIndex={0} aria-label={`${idOf(shown)} as ${format.toUpperCase()}`}>
            {format === "yaml" ? toYaml(shown) : JSON.stringify(shown, null, 2)}
          </pre>
        </section>
      )}
    </>
  );
}
