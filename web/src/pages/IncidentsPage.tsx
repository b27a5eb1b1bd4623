import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { api } from "../api/client";
import { unwrap } from "../api/errors";
import type { IncidentFilters, IncidentPhase, IncidentSummary, Severity } from "../api/types";
import { PHASES, SEVERITIES } from "../api/types";
import { ErrorNotice, PageTitle, PhaseBadge, SeverityBadge, TableScroll, Time, UpdatedAt } from "../components/common";
import { phaseLabel } from "../lib/format";
import { href, navigate } from "../lib/router";
import type { Route } from "../lib/router";
import { usePolling } from "../lib/usePolling";

export const PAGE_SIZE = 25;
/** The API's answer header with the number of incidents matching the filters. */
const TOTAL_HEADER = "X-Total-Count";

interface Filters {
  phase: IncidentPhase | "";
  severity: Severity | "";
  namespace: string;
  open: boolean;
}

function oneOf<T extends string>(values: readonly T[], value: string | null): T | "" {
  return values.includes(value as T) ? (value as T) : "";
}

export function filtersOf(query: URLSearchParams): Filters & { page: number } {
  const page = Number.parseInt(query.get("page") ?? "1", 10);
  return {
    phase: oneOf(PHASES, query.get("phase")),
    severity: oneOf(SEVERITIES, query.get("severity")),
    namespace: query.get("namespace") ?? "",
    open: query.get("open") === "true",
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

interface Listed {
  rows: IncidentSummary[];
  total: number;
}

async function loadPage(filters: Filters, page: number): Promise<Listed> {
  const query: IncidentFilters = { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE };
  if (filters.phase) query.phase = filters.phase;
  if (filters.severity) query.severity = filters.severity;
  if (filters.namespace) query.namespace = filters.namespace;
  if (filters.open) query.open = true;
  const answer = await api.GET("/api/v1/incidents", { params: { query } });
  const rows = unwrap(answer);
  const total = Number.parseInt(answer.response.headers.get(TOTAL_HEADER) ?? "", 10);
  return { rows, total: Number.isFinite(total) ? total : rows.length };
}

/** "Page 2 of 5 (112 incidents)". */
export function pageSummary(page: number, total: number): string {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return `Page ${page} of ${pages} (${total} ${total === 1 ? "incident" : "incidents"})`;
}

export function IncidentsPage({ route }: { route: Route }) {
  const current = filtersOf(route.query);
  const [draft, setDraft] = useState<Filters>(current);
  const key = route.query.toString();
  const listed = usePolling(() => loadPage(current, current.page), key);
  // a link or the back button changed the filters: show them in the form
  useEffect(() => setDraft(filtersOf(new URLSearchParams(key))), [key]);

  function apply(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    navigate("/incidents", { ...draft, namespace: draft.namespace.trim() });
  }

  function reset() {
    const empty: Filters = { phase: "", severity: "", namespace: "", open: false };
    setDraft(empty);
    navigate("/incidents");
  }

  const pageLink = (page: number) => href("/incidents", { ...current, page: page > 1 ? page : undefined });
  const rows = listed.data?.rows;
  const more = listed.data ? current.page * PAGE_SIZE < listed.data.total : false;

  return (
    <>
      <div className="page-head">
        <PageTitle>Incidents</PageTitle>
        <UpdatedAt at={listed.updatedAt} loading={listed.loading} />
      </div>
      <form className="filters" onSubmit={apply} aria-label="Filter incidents">
        <div className="field">
          <label htmlFor="filter-phase">Phase</label>
          <select
            id="filter-phase"
            value={draft.phase}
            onChange={(e) => setDraft({ ...draft, phase: e.target.value as IncidentPhase | "" })}
          >
            <option value="">Any</option>
            {PHASES.map((p) => (
              <option key={p} value={p}>{phaseLabel(p)}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-severity">Severity</label>
          <select
            id="filter-severity"
            value={draft.severity}
            onChange={(e) => setDraft({ ...draft, severity: e.target.value as Severity | "" })}
          >
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-namespace">Namespace</label>
          <input
            id="filter-namespace"
            value={draft.namespace}
            maxLength={63}
            spellCheck={false}
            autoCapitalize="none"
            onChange={(e) => setDraft({ ...draft, namespace: e.target.value })}
          />
        </div>
        <div className="field checkbox">
          <input
            id="filter-open"
            type="checkbox"
            checked={draft.open}
            onChange={(e) => setDraft({ ...draft, open: e.target.checked })}
          />
          <label htmlFor="filter-open">Open only</label>
        </div>
        <div className="field actions">
          <button type="submit">Apply</button>
          <button type="button" className="button-secondary" onClick={reset}>Reset</button>
        </div>
      </form>
      <ErrorNotice message={listed.error} />
      {rows && rows.length === 0 && <p className="muted">No incidents match.</p>}
      {rows && rows.length > 0 && (
        <TableScroll label="Incidents">
          <table className="incidents">
            <thead>
              <tr>
                <th scope="col">Incident</th>
                <th scope="col">Severity</th>
                <th scope="col">Phase</th>
                <th scope="col">Service</th>
                <th scope="col">Type</th>
                <th scope="col" className="num">Occurrences</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((incident) => (
                <tr key={incident.name} className={incident.phase === "AwaitingApproval" ? "row-attention" : undefined}>
                  <td>
                    <a href={href(`/incidents/${encodeURIComponent(incident.name)}`)}>{incident.name}</a>
                    <div className="muted small">{incident.namespace} · {incident.summary}</div>
                  </td>
                  <td><SeverityBadge severity={incident.severity} /></td>
                  <td><PhaseBadge phase={incident.phase} /></td>
                  <td>{incident.service}</td>
                  <td>{incident.incident_type}</td>
                  <td className="num">{incident.occurrences}</td>
                  <td><Time iso={incident.last_seen} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {listed.data && (current.page > 1 || more) && (
        <nav className="pager" aria-label="Pages">
          {current.page > 1 ? <a href={pageLink(current.page - 1)}>Previous</a> : <span />}
          <span>{pageSummary(current.page, listed.data.total)}</span>
          {more ? <a href={pageLink(current.page + 1)}>Next</a> : <span />}
        </nav>
      )}
    </>
  );
}
