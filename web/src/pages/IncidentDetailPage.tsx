import { useState } from "react";
import type { FormEvent } from "react";
import { api } from "../api/client";
import { messageOf, unwrap } from "../api/errors";
import type { IncidentDetail, Remediation } from "../api/types";
import { useRole } from "../auth/AuthContext";
import { canActOnIncidents } from "../auth/roles";
import { ErrorNotice, LogText, PageTitle, PhaseBadge, SeverityBadge, TableScroll, Time, UpdatedAt } from "../components/common";
import { formatNumber } from "../lib/format";
import { href } from "../lib/router";
import { usePolling } from "../lib/usePolling";

type Action = "acknowledge" | "approve" | "resolve" | "comment";

const DONE: Record<Action, string> = {
  acknowledge: "Acknowledged.",
  approve: "Approved: the operator runs the playbook.",
  resolve: "Resolved.",
  comment: "Comment added.",
};

async function loadIncident(name: string): Promise<IncidentDetail> {
  return unwrap(await api.GET("/api/v1/incidents/{name}", { params: { path: { name } } }));
}

async function perform(name: string, action: Action, text: string): Promise<void> {
  const path = { params: { path: { name } } };
  switch (action) {
    case "acknowledge":
      unwrap(await api.POST("/api/v1/incidents/{name}/acknowledge", path));
      return;
    case "approve":
      unwrap(await api.POST("/api/v1/incidents/{name}/approve", path));
      return;
    case "resolve":
      unwrap(await api.POST("/api/v1/incidents/{name}/resolve", { ...path, body: { resolution: text } }));
      return;
    case "comment":
      unwrap(await api.POST("/api/v1/incidents/{name}/comments", { ...path, body: { text } }));
      return;
  }
}

/** What a timeline entry says beyond its kind: a comment's text, a resolution, else the
 * detail's fields. */
function timelineText(detail: Record<string, unknown>): string {
  for (const field of ["text", "resolution", "message"]) {
    const value = detail[field];
    if (typeof value === "string" && value) {
      return value;
    }
  }
  const entries = Object.entries(detail);
  return entries.length ? entries.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ") : "";
}

/** The playbook's steps with where the run stands: done, current, or still to come. */
export function RunPlan({ run }: { run: Remediation }) {
  if (run.steps.length === 0) {
    return <p className="muted small">The playbook's steps cannot be read now.</p>;
  }
  const finished = run.state === "Finished";
  return (
    <ol className="run-plan">
      {run.steps.map((step, index) => {
        const where = finished || index < run.step ? "done" : index === run.step ? "current" : "next";
        return (
          <li key={`${step.name}-${index}`} className={`step-${where}`} aria-current={where === "current" ? "step" : undefined}>
            <strong>{step.name}</strong> <span className="muted">({step.type})</span>
            {where === "current" && run.state === "AwaitingApproval" && <span className="badge">waits for approval</span>}
          </li>
        );
      })}
    </ol>
  );
}

export function IncidentDetailPage({ name }: { name: string }) {
  const role = useRole();
  const mayAct = canActOnIncidents(role);
  const incident = usePolling(() => loadIncident(name), name);
  const [busy, setBusy] = useState<Action | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string }>();
  const [comment, setComment] = useState("");
  const [resolution, setResolution] = useState("");

  async function act(action: Action, text = "") {
    setBusy(action);
    setResult(undefined);
    try {
      await perform(name, action, text);
      setResult({ ok: true, text: DONE[action] });
      if (action === "comment") setComment("");
      if (action === "resolve") setResolution("");
      incident.reload();
    } catch (error) {
      setResult({ ok: false, text: `Could not ${action}: ${messageOf(error)}` });
    } finally {
      setBusy(null);
    }
  }

  function submitComment(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (comment.trim()) void act("comment", comment.trim());
  }

  function submitResolve(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    void act("resolve", resolution.trim());
  }

  const data = incident.data;
  if (!data) {
    return (
      <>
        <PageTitle>Incident {name}</PageTitle>
        <ErrorNotice message={incident.error} />
        {!incident.error && <p className="muted">Loading…</p>}
        <p><a href={href("/incidents")}>Back to incidents</a></p>
      </>
    );
  }

  const run = data.remediation ?? null;
  const awaiting = data.phase === "AwaitingApproval" || run?.state === "AwaitingApproval";
  const resolved = data.resolved_at !== null || data.phase === "Resolved";
  const { evidence } = data;

  return (
    <>
      <p className="breadcrumbs"><a href={href("/incidents")}>Incidents</a> / {data.name}</p>
      <div className="page-head">
        <PageTitle>{data.summary || data.name}</PageTitle>
        <UpdatedAt at={incident.updatedAt} loading={incident.loading} />
      </div>
      <p className="badges">
        <SeverityBadge severity={data.severity} /> <PhaseBadge phase={data.phase} />
      </p>
      <ErrorNotice message={incident.error} />

      {awaiting && (
        <section className="approval" aria-labelledby="approval-title">
          <h2 id="approval-title">Remediation awaits approval</h2>
          <p>
            {run ? <>Playbook <strong>{run.playbook}</strong></> : "A playbook"} matched this
            incident and waits for a person to approve it before it changes the cluster.
          </p>
          {run && <RunPlan run={run} />}
          {run?.approved ? (
            <p role="status">Approved: waiting for the operator to start.</p>
          ) : mayAct ? (
            <button type="button" className="button-approve" disabled={busy !== null} onClick={() => void act("approve")}>
              {busy === "approve" ? "Approving…" : "Approve remediation"}
            </button>
          ) : (
            <p className="muted">An operator or an admin can approve it.</p>
          )}
        </section>
      )}

      {result && (
        <p className={result.ok ? "notice notice-ok" : "notice notice-error"} role={result.ok ? "status" : "alert"}>
          {result.text}
        </p>
      )}

      <section className="card" aria-labelledby="facts-title">
        <h2 id="facts-title">Facts</h2>
        <dl className="facts">
          <dt>Name</dt><dd>{data.name}</dd>
          <dt>Namespace</dt><dd>{data.namespace}</dd>
          <dt>Service</dt><dd>{data.service}</dd>
          <dt>Rule</dt><dd>{data.rule}</dd>
          <dt>Type</dt><dd>{data.incident_type}</dd>
          <dt>Target</dt><dd>{data.target ? `${data.target.kind} ${data.target.namespace}/${data.target.name}` : "—"}</dd>
          <dt>Occurrences</dt><dd>{formatNumber(data.occurrences)}</dd>
          <dt>First seen</dt><dd><Time iso={data.first_seen} /></dd>
          <dt>Last seen</dt><dd><Time iso={data.last_seen} /></dd>
          <dt>Opened</dt><dd><Time iso={data.opened_at} /></dd>
          <dt>Resolved</dt><dd><Time iso={data.resolved_at} /></dd>
          {data.resolution && (<><dt>Resolution</dt><dd><LogText text={data.resolution} className="wrap" /></dd></>)}
          <dt>Fingerprint</dt><dd><code>{data.fingerprint}</code></dd>
        </dl>
      </section>

      {mayAct ? (
        <section className="card" aria-labelledby="actions-title">
          <h2 id="actions-title">Respond</h2>
          <div className="button-row">
            <button type="button" disabled={busy !== null || resolved} onClick={() => void act("acknowledge")}>
              {busy === "acknowledge" ? "Acknowledging…" : "Acknowledge"}
            </button>
          </div>
          <form className="inline-form" onSubmit={submitResolve}>
            <label htmlFor="resolution">Resolution (optional)</label>
            <input id="resolution" value={resolution} maxLength={1000} disabled={resolved} onChange={(e) => setResolution(e.target.value)} />
            <button type="submit" disabled={busy !== null || resolved}>
              {busy === "resolve" ? "Resolving…" : "Resolve"}
            </button>
          </form>
          {resolved && <p className="muted small">This incident is resolved.</p>}
          <form className="inline-form" onSubmit={submitComment}>
            <label htmlFor="comment">Comment</label>
            <textarea id="comment" rows={3} value={comment} maxLength={4000} onChange={(e) => setComment(e.target.value)} />
            <button type="submit" disabled={busy !== null || !comment.trim()}>
              {busy === "comment" ? "Adding…" : "Add comment"}
            </button>
          </form>
        </section>
      ) : (
        <p className="muted">You have read-only access: operators and admins respond to incidents.</p>
      )}

      <section className="card" aria-labelledby="evidence-title">
        <h2 id="evidence-title">Evidence</h2>
        {evidence.window && (
          <>
            <h3>Detector window</h3>
            <dl className="facts">
              <dt>Statistic</dt><dd>{evidence.window.statistic}</dd>
              <dt>Value</dt><dd>{formatNumber(evidence.window.value)}</dd>
              <dt>Threshold</dt><dd>{formatNumber(evidence.window.threshold)}</dd>
              <dt>Matched lines</dt><dd>{formatNumber(evidence.window.matched)}</dd>
              <dt>Total lines</dt><dd>{evidence.window.total == null ? "—" : formatNumber(evidence.window.total)}</dd>
              <dt>From</dt><dd><Time iso={evidence.window.start} /></dd>
              <dt>To</dt><dd><Time iso={evidence.window.end} /></dd>
            </dl>
          </>
        )}
        <h3>Sample lines</h3>
        {(evidence.samples ?? []).length === 0 ? (
          <p className="muted">No sample lines.</p>
        ) : (
          <TableScroll label="Sample lines">
            <table className="logs">
              <thead>
                <tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Pod</th><th scope="col">Message</th></tr>
              </thead>
              <tbody>
                {(evidence.samples ?? []).map((sample, i) => (
                  <tr key={`${sample.timestamp}-${i}`}>
                    <td className="nowrap"><Time iso={sample.timestamp} /></td>
                    <td><span className={`level level-${sample.level ?? "unknown"}`}>{sample.level ?? "unknown"}</span></td>
                    <td>{sample.pod}</td>
                    <td><LogText text={sample.message} className="wrap" /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
        <h3>Templates</h3>
        {(evidence.templateIds ?? []).length === 0 ? (
          <p className="muted">None recorded.</p>
        ) : (
          <ul className="chips">
            {(evidence.templateIds ?? []).map((id) => (
              <li key={id}><LogText text={id} /></li>
            ))}
          </ul>
        )}
        <h3>Kafka offsets</h3>
        {(evidence.offsets ?? []).length === 0 ? (
          <p className="muted">None recorded.</p>
        ) : (
          <TableScroll label="Kafka offsets">
            <table>
              <thead>
                <tr><th scope="col">Topic</th><th scope="col" className="num">Partition</th><th scope="col" className="num">First offset</th><th scope="col" className="num">Last offset</th></tr>
              </thead>
              <tbody>
                {(evidence.offsets ?? []).map((o) => (
                  <tr key={`${o.topic}-${o.partition}-${o.firstOffset}`}>
                    <td>{o.topic}</td><td className="num">{o.partition}</td><td className="num">{o.firstOffset}</td><td className="num">{o.lastOffset}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>

      {run && !awaiting && (
        <section className="card" aria-labelledby="run-title">
          <h2 id="run-title">Playbook run</h2>
          <dl className="facts">
            <dt>Playbook</dt><dd>{run.playbook}</dd>
            <dt>Mode</dt><dd>{run.mode}</dd>
            <dt>Attempt</dt><dd>{run.attempt}</dd>
            <dt>State</dt><dd>{run.state}{run.waiting_for ? ` (waiting for ${run.waiting_for})` : ""}</dd>
            <dt>Outcome</dt><dd>{run.outcome ?? "—"}</dd>
          </dl>
          <RunPlan run={run} />
        </section>
      )}

      <section className="card" aria-labelledby="remediation-title">
        <h2 id="remediation-title">Remediation steps</h2>
        {data.actions.length === 0 ? (
          <p className="muted">No steps taken.</p>
        ) : (
          <TableScroll label="Steps taken, oldest first">
            <table>
              <thead>
                <tr>
                  <th scope="col">Step</th><th scope="col">Type</th><th scope="col">Result</th><th scope="col">Guard</th>
                  <th scope="col">Started</th><th scope="col">Finished</th><th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {data.actions.map((a, i) => (
                  <tr key={`${a.playbook}-${a.step}-${i}`}>
                    <td>{a.playbook} / {a.step}{a.dryRun ? <span className="badge">dry run</span> : null}</td>
                    <td>{a.type}</td>
                    <td><span className={`result result-${a.result ?? "Pending"}`}>{a.result ?? "Pending"}</span></td>
                    <td>{a.guard ?? "—"}</td>
                    <td className="nowrap"><Time iso={a.startedAt} /></td>
                    <td className="nowrap"><Time iso={a.finishedAt} /></td>
                    <td><LogText text={a.message ?? ""} className="wrap" /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>

      <section className="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        {data.timeline.length === 0 ? (
          <p className="muted">Nothing yet.</p>
        ) : (
          <ol className="timeline">
            {data.timeline.map((event, i) => (
              <li key={`${event.at}-${i}`}>
                <Time iso={event.at} /> <strong>{event.kind}</strong> by {event.actor}
                {timelineText(event.detail) && (
                  <div><LogText text={timelineText(event.detail)} className="wrap" /></div>
                )}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
