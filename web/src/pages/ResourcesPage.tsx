import { Suspense, lazy, useState } from "react";
import { api } from "../api/client";
import { messageOf, unwrap } from "../api/errors";
import type { Manifest, ResourceKind } from "../api/resources";
import { deleteManifest } from "../api/resources";
import type { DetectionRule, Playbook } from "../api/types";
import { useRole } from "../auth/AuthContext";
import { canBacktest, canEditPlaybooks, canEditRules } from "../auth/roles";
import { ErrorNotice, PageTitle, SeverityBadge, TableScroll, UpdatedAt } from "../components/common";
import { ConfirmButton } from "../components/ConfirmButton";
import { usePolling } from "../lib/usePolling";
import { toYaml } from "../lib/yaml";

export type { ResourceKind };

// The editor (and the YAML parser it brings) is loaded when first opened: most visits only read.
const ManifestEditor = lazy(() => import("../components/ManifestEditor").then((m) => ({ default: m.ManifestEditor })));

function LoadingEditor() {
  return <p className="muted">Loading the editor…</p>;
}

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

interface ResourceTableProps {
  kind: ResourceKind;
  title: string;
  items: Manifest[];
  selected: string | undefined;
  onSelect: (id: string | undefined) => void;
}

function ResourceTable({ kind, title, items, selected, onSelect }: ResourceTableProps) {
  return (
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
                  onClick={() => onSelect(idOf(item) === selected ? undefined : idOf(item))}
                >
                  {idOf(item) === selected ? "Hide" : "Show"}<span className="visually-hidden"> {idOf(item)}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

function ManifestText({ manifest }: { manifest: Manifest }) {
  const [format, setFormat] = useState<"yaml" | "json">("yaml");
  return (
    <>
      <fieldset className="segmented">
        <legend className="visually-hidden">Format</legend>
        {(["yaml", "json"] as const).map((f) => (
          <span key={f} className="checkbox">
            <input type="radio" id={`format-${f}`} name="format" checked={format === f} onChange={() => setFormat(f)} />
            <label htmlFor={`format-${f}`}>{f.toUpperCase()}</label>
          </span>
        ))}
      </fieldset>
      <pre className="manifest" tabIndex={0} role="region" aria-label={`${idOf(manifest)} as ${format.toUpperCase()}`}>
        {format === "yaml" ? toYaml(manifest) : JSON.stringify(manifest, null, 2)}
      </pre>
    </>
  );
}

export function ResourcesPage({ kind }: { kind: ResourceKind }) {
  const listed = usePolling(kind === "rules" ? loadRules : loadPlaybooks, kind, null);
  const role = useRole();
  const mayEdit = kind === "rules" ? canEditRules(role) : canEditPlaybooks(role);
  const [selected, setSelected] = useState<string>();
  const [editing, setEditing] = useState<"new" | "selected">();
  const [done, setDone] = useState<string>();
  const [failure, setFailure] = useState<string>();
  const title = kind === "rules" ? "Detection rules" : "Playbooks";
  const singular = kind === "rules" ? "rule" : "playbook";
  const items = listed.data ?? [];
  const shown = items.find((item) => idOf(item) === selected);

  /** Another object: its editor closes (a new one being written stays open). */
  function select(id: string | undefined) {
    setSelected(id);
    setEditing((was) => (was === "new" ? was : undefined));
  }

  function saved(manifest: Manifest, created: boolean) {
    setSelected(idOf(manifest));
    setEditing(undefined);
    setFailure(undefined);
    setDone(`${created ? "Created" : "Saved"} ${singular} ${idOf(manifest)}.`);
    listed.reload();
  }

  async function remove(manifest: Manifest) {
    setDone(undefined);
    setFailure(undefined);
    try {
      await deleteManifest(kind, manifest.metadata.namespace ?? "", manifest.metadata.name);
      select(undefined);
      setDone(`Deleted ${singular} ${idOf(manifest)}.`);
      listed.reload();
    } catch (error) {
      setFailure(`Could not delete ${idOf(manifest)}: ${messageOf(error)}`);
    }
  }

  return (
    <>
      <div className="page-head">
        <PageTitle>{title}</PageTitle>
        {mayEdit && (
          <button type="button" onClick={() => { setEditing("new"); setDone(undefined); }} disabled={editing === "new"}>
            New {singular}
          </button>
        )}
        <button type="button" className="button-secondary" onClick={listed.reload} disabled={listed.loading}>
          Refresh
        </button>
        <UpdatedAt at={listed.updatedAt} loading={listed.loading} />
      </div>
      <p className="muted">
        {mayEdit
          ? "Changes are validated by the API and recorded in its audit log."
          : `Read-only for your role: ${kind === "rules" ? "operators and admins change rules" : "admins change playbooks"}.`}
      </p>
      <ErrorNotice message={listed.error} />
      <ErrorNotice message={failure} />
      {done && <p className="notice notice-ok" role="status">{done}</p>}
      {editing === "new" && (
        <section className="card" aria-labelledby="new-title">
          <h2 id="new-title">New {singular}</h2>
          <Suspense fallback={<LoadingEditor />}>
            <ManifestEditor kind={kind} backtest={kind === "rules" && canBacktest(role)} onSaved={saved} onCancel={() => setEditing(undefined)} />
          </Suspense>
        </section>
      )}
      {listed.data && items.length === 0 && <p className="muted">None.</p>}
      {items.length > 0 && <ResourceTable kind={kind} title={title} items={items} selected={selected} onSelect={select} />}
      {shown && (
        <section className="card" aria-labelledby="manifest-title">
          <div className="page-head">
            <h2 id="manifest-title">{idOf(shown)}</h2>
            {mayEdit && editing !== "selected" && (
              <div className="button-row">
                <button type="button" className="button-secondary" onClick={() => { setEditing("selected"); setDone(undefined); }}>
                  Edit<span className="visually-hidden"> {idOf(shown)}</span>
                </button>
                <ConfirmButton
                  label="Delete"
                  name={`Delete ${idOf(shown)}`}
                  question={`Delete the ${singular} ${idOf(shown)}?`}
                  confirmLabel="Yes, delete"
                  onConfirm={() => remove(shown)}
                />
              </div>
            )}
          </div>
          {editing === "selected" ? (
            <Suspense fallback={<LoadingEditor />}>
              <ManifestEditor
                key={idOf(shown)}
                kind={kind}
                existing={shown}
                backtest={kind === "rules" && canBacktest(role)}
                onSaved={saved}
                onCancel={() => setEditing(undefined)}
              />
            </Suspense>
          ) : (
            <ManifestText manifest={shown} />
          )}
        </section>
      )}
    </>
  );
}
