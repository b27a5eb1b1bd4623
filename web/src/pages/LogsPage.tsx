import { useEffect, useRef, useState } from "react";
import type { FormEvent } from "react";
import { api } from "../api/client";
import { messageOf, unwrap } from "../api/errors";
import type { FoundLog, Level, LogContext, LogFilters } from "../api/types";
import { LEVELS } from "../api/types";
import { ErrorNotice, LogText, PageTitle, TableScroll, Time } from "../components/common";
import { localInputToIso } from "../lib/format";
import { navigate, queryString } from "../lib/router";
import type { Query, Route } from "../lib/router";

export const LOG_PAGE_SIZE = 100;

interface Search {
  q: string;
  service: string;
  namespace: string;
  pod: string;
  template: string;
  levels: Level[];
  since: string; // datetime-local values
  until: string;
}

function searchOf(query: URLSearchParams): Search {
  return {
    q: query.get("q") ?? "",
    service: query.get("service") ?? "",
    namespace: query.get("namespace") ?? "",
    pod: query.get("pod") ?? "",
    template: query.get("template") ?? "",
    levels: query.getAll("level").filter((l): l is Level => (LEVELS as readonly string[]).includes(l)),
    since: query.get("since") ?? "",
    until: query.get("until") ?? "",
  };
}

function apiQuery(search: Search, cursor: string | null): LogFilters {
  const query: LogFilters = { limit: LOG_PAGE_SIZE };
  if (search.q.trim()) query.q = search.q.trim();
  if (search.service.trim()) query.service = [search.service.trim()];
  if (search.namespace.trim()) query.namespace = [search.namespace.trim()];
  if (search.pod.trim()) query.pod = [search.pod.trim()];
  if (search.template.trim()) query.template = [search.template.trim()];
  if (search.levels.length) query.level = search.levels;
  const since = localInputToIso(search.since);
  const until = localInputToIso(search.until);
  if (since) query.since = since;
  if (until) query.until = until;
  if (cursor) query.cursor = cursor;
  return query;
}

const CONTEXT_LINES = 10;

function LogRow({ line, open, onToggle }: { line: FoundLog; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr className={open ? "row-open" : undefined}>
        <td className="nowrap"><Time iso={line.timestamp} /></td>
        <td><span className={`level level-${line.level}`}>{line.level}</span></td>
        <td>{line.service}<div className="muted small">{line.namespace}</div></td>
        <td>{line.pod}</td>
        <td>
          <LogText text={line.message} className="wrap" />
          {(line.trace_id || line.template_id || Object.keys(line.attributes).length > 0) && (
            <details>
              <summary>Details</summary>
              <pre className="json">{JSON.stringify({ template_id: line.template_id, trace_id: line.trace_id, attributes: line.attributes }, null, 2)}</pre>
            </details>
          )}
          <button type="button" className="link-button" aria-expanded={open} onClick={onToggle}>
            {open ? "Hide context" : "Context"}
          </button>
        </td>
      </tr>
      {open && (
        <tr className="context-row">
          <td colSpan={5}>
            <LineContext line={line} />
          </td>
        </tr>
      )}
    </>
  );
}

/** The lines the same pod wrote just before and after `line`, oldest first. */
export function LineContext({ line }: { line: FoundLog }) {
  const [found, setFound] = useState<LogContext>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let cancelled = false;
    api
      .GET("/api/v1/logs/context", { params: { query: { timestamp: line.timestamp, id: line.id, lines: CONTEXT_LINES } } })
      .then(unwrap)
      .then((answer) => !cancelled && setFound(answer))
      .catch((failure: unknown) => !cancelled && setError(messageOf(failure)));
    return () => {
      cancelled = true;
    };
  }, [line.id, line.timestamp]);

  if (error) return <ErrorNotice message={error} />;
  if (!found) return <p className="muted small">Loading the lines around it…</p>;
  const around = [...found.before, found.line, ...found.after];
  return (
    <section aria-label={`Lines of pod ${line.pod} around the chosen one`}>
      <p className="muted small">Pod {line.pod}: {found.before.length} line(s) before, {found.after.length} after.</p>
      <ol className="context-lines">
        {around.map((other) => (
          <li key={other.id} className={other.id === line.id ? "context-chosen" : undefined} aria-current={other.id === line.id ? "true" : undefined}>
            <Time iso={other.timestamp} /> <span className={`level level-${other.level}`}>{other.level}</span>{" "}
            <LogText text={other.message} className="wrap" />
          </li>
        ))}
      </ol>
    </section>
  );
}

export function LogsPage({ route }: { route: Route }) {
  const key = route.query.toString();
  const [draft, setDraft] = useState<Search>(() => searchOf(route.query));
  const [items, setItems] = useState<FoundLog[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const [searched, setSearched] = useState(false);
  const [contextOf, setContextOf] = useState<number | null>(null);
  const generation = useRef(0); // answers to an older search are dropped

  async function fetchPage(search: Search, after: string | null) {
    const mine = ++generation.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = unwrap(await api.GET("/api/v1/logs", { params: { query: apiQuery(search, after) } }));
      if (mine !== generation.current) return;
      setItems((previous) => (after ? [...previous, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setSearched(true);
    } catch (failure) {
      if (mine === generation.current) setError(messageOf(failure));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }

  // The search is in the address (#/logs?q=...): a new one starts from the newest lines.
  useEffect(() => {
    const search = searchOf(new URLSearchParams(key));
    setDraft(search);
    setItems([]);
    setCursor(null);
    setContextOf(null);
    void fetchPage(search, null);
  }, [key]);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const query: Query = {
      q: draft.q,
      service: draft.service,
      namespace: draft.namespace,
      pod: draft.pod,
      template: draft.template,
      level: draft.levels,
      since: draft.since,
      until: draft.until,
    };
    if (queryString(query) === key) {
      void fetchPage(draft, null); // same search again: look for newer lines
    } else {
      navigate("/logs", query);
    }
  }

  function toggleLevel(level: Level, on: boolean) {
    setDraft({ ...draft, levels: on ? [...draft.levels, level] : draft.levels.filter((l) => l !== level) });
  }

  return (
    <>
      <PageTitle>Logs</PageTitle>
      <form className="filters" onSubmit={submit} aria-label="Search logs">
        <div className="field grow">
          <label htmlFor="logs-q">Search text</label>
          <input id="logs-q" type="search" value={draft.q} maxLength={500} onChange={(e) => setDraft({ ...draft, q: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-service">Service</label>
          <input id="logs-service" value={draft.service} maxLength={253} spellCheck={false} autoCapitalize="none" onChange={(e) => setDraft({ ...draft, service: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-namespace">Namespace</label>
          <input id="logs-namespace" value={draft.namespace} maxLength={63} spellCheck={false} autoCapitalize="none" onChange={(e) => setDraft({ ...draft, namespace: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-pod">Pod</label>
          <input id="logs-pod" value={draft.pod} maxLength={253} spellCheck={false} autoCapitalize="none" onChange={(e) => setDraft({ ...draft, pod: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-template">Template</label>
          <input id="logs-template" value={draft.template} maxLength={200} spellCheck={false} autoCapitalize="none" onChange={(e) => setDraft({ ...draft, template: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-since">From</label>
          <input id="logs-since" type="datetime-local" step={1} value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="logs-until">To</label>
          <input id="logs-until" type="datetime-local" step={1} value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
        </div>
        <fieldset className="levels">
          <legend>Levels</legend>
          {LEVELS.map((level) => (
            <span key={level} className="checkbox">
              <input id={`logs-level-${level}`} type="checkbox" checked={draft.levels.includes(level)} onChange={(e) => toggleLevel(level, e.target.checked)} />
              <label htmlFor={`logs-level-${level}`}>{level}</label>
            </span>
          ))}
        </fieldset>
        <div className="field actions">
          <button type="submit">Search</button>
        </div>
      </form>
      <ErrorNotice message={error} />
      <p className="muted" role="status">
        {loading ? "Searching…" : searched ? `${items.length} line${items.length === 1 ? "" : "s"} shown, newest first${cursor ? "; more are available" : ""}.` : ""}
      </p>
      {items.length > 0 && (
        <TableScroll label="Log lines">
          <table className="logs">
            <thead>
              <tr>
                <th scope="col">Time</th><th scope="col">Level</th><th scope="col">Service</th>
                <th scope="col">Pod</th><th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {items.map((line) => (
                <LogRow
                  key={line.id}
                  line={line}
                  open={contextOf === line.id}
                  onToggle={() => setContextOf(contextOf === line.id ? null : line.id)}
                />
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {cursor && (
        <p>
          <button type="button" disabled={loading} onClick={() => void fetchPage(searchOf(new URLSearchParams(key)), cursor)}>
            {loading ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
    </>
  );
}

