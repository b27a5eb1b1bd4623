import { useMemo, useState } from "react";
import { anonymousApi, api } from "../api/client";
import { unwrap } from "../api/errors";
import type { IncidentCounts, PipelineReport, Readiness, Stats } from "../api/types";
import { SEVERITIES } from "../api/types";
import { ErrorNotice, LogText, PageTitle, SeverityBadge, TableScroll, Time, UpdatedAt } from "../components/common";
import { LineChart } from "../components/LineChart";
import { formatClock, formatNumber } from "../lib/format";
import { href } from "../lib/router";
import { toSeries } from "../lib/series";
import { usePolling } from "../lib/usePolling";

/** The ranges offered, with an interval that keeps each chart under ~100 points. */
export const RANGES = [
  { id: "1h", label: "Last hour", seconds: 3600, interval: 60 },
  { id: "6h", label: "Last 6 hours", seconds: 6 * 3600, interval: 300 },
  { id: "24h", label: "Last 24 hours", seconds: 24 * 3600, interval: 900 },
] as const;
type RangeId = (typeof RANGES)[number]["id"];

interface Overview {
  stats: Stats;
  counts: IncidentCounts;
  pipeline: PipelineReport;
}

async function loadOverview(rangeId: RangeId): Promise<Overview> {
  const range = RANGES.find((r) => r.id === rangeId) ?? RANGES[0];
  const until = new Date();
  const since = new Date(until.getTime() - range.seconds * 1000);
  const [stats, counts, pipeline] = await Promise.all([
    api
      .GET("/api/v1/stats", {
        params: {
          query: {
            since: since.toISOString(),
            until: until.toISOString(),
            interval: range.interval,
            top: 10,
          },
        },
      })
      .then(unwrap),
    api.GET("/api/v1/stats/incidents").then(unwrap),
    api.GET("/api/v1/pipeline").then(unwrap),
  ]);
  return { stats, counts, pipeline };
}

async function loadReadiness(): Promise<Readiness> {
  // /readyz answers 503 with the same body when something is down: both are an answer here.
  const result = await anonymousApi.GET("/readyz");
  const body = (result.data ?? result.error) as Readiness | undefined;
  if (body && typeof body === "object" && "status" in body) {
    return body;
  }
  return unwrap(result);
}

export function OverviewPage() {
  const [range, setRange] = useState<RangeId>("1h");
  const overview = usePolling(() => loadOverview(range), range);
  const readiness = usePolling(loadReadiness, "readyz");

  const series = useMemo(() => {
    const stats = overview.data?.stats;
    return stats ? toSeries(stats.series, stats.since, stats.until, stats.interval_seconds) : null;
  }, [overview.data]);
  const labels = useMemo(() => series?.starts.map(formatClock) ?? [], [series]);
  const volume = useMemo(
    () => series?.services.map((s) => ({ label: s.service, data: s.totals })) ?? [],
    [series],
  );
  const errorRate = useMemo(
    () => series?.services.map((s) => ({ label: s.service, data: s.errorRates })) ?? [],
    [series],
  );
  const counts = overview.data?.counts;
  const pipeline = overview.data?.pipeline;
  const templates = overview.data?.stats.top_templates ?? [];

  return (
    <>
      <div className="page-head">
        <PageTitle>Overview</PageTitle>
        <div className="field inline">
          <label htmlFor="overview-range">Range</label>
          <select
            id="overview-range"
            value={range}
            onChange={(event) => setRange(event.target.value as RangeId)}
          >
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <UpdatedAt at={overview.updatedAt} loading={overview.loading} />
      </div>
      <ErrorNotice message={overview.error} />

      <section className="cards" aria-label="Status">
        <div className="card">
          <h2>Open incidents</h2>
          {counts ? (
            <>
              <p className="big-number">{formatNumber(counts.open)}</p>
              <ul className="severity-counts">
                {SEVERITIES.map((severity) => (
                  <li key={severity}>
                    <a href={href("/incidents", { open: "true", severity })}>
                      <SeverityBadge severity={severity} />
                      <span className="count">{formatNumber(counts.by_severity[severity] ?? 0)}</span>
                    </a>
                  </li>
                ))}
              </ul>
              {(counts.by_phase.AwaitingApproval ?? 0) > 0 && (
                <p className="attention">
                  <a href={href("/incidents", { open: "true", phase: "AwaitingApproval" })}>
                    {formatNumber(counts.by_phase.AwaitingApproval ?? 0)} awaiting approval
                  </a>
                </p>
              )}
            </>
          ) : (
            <p className="muted">…</p>
          )}
        </div>
        <div className="card">
          <h2>Pipeline</h2>
          {pipeline ? (
            <>
              <p className={pipeline.healthy ? "ok" : "bad"}>
                <strong>{pipeline.healthy ? "Keeping up" : "Behind or silent"}</strong>
              </p>
              <p className="small">{pipeline.reason}</p>
              <dl className="facts">
                <dt>Largest lag</dt>
                <dd>{formatNumber(pipeline.max_lag_seconds)} s ({formatNumber(pipeline.max_lag_records)} records)</dd>
                <dt>Partitions</dt>
                <dd>{formatNumber(pipeline.partitions.length)}</dd>
                <dt>Dead letters</dt>
                <dd className={pipeline.dead_letters.last_hour > 0 ? "bad" : undefined}>
                  {formatNumber(pipeline.dead_letters.last_hour)} in the last hour, {formatNumber(pipeline.dead_letters.total)} in all
                </dd>
              </dl>
            </>
          ) : (
            <p className="muted">…</p>
          )}
        </div>
        <div className="card">
          <h2>API health</h2>
          {readiness.data ? (
            <dl className="facts">
              <dt>Status</dt>
              <dd className={readiness.data.status === "ok" ? "ok" : "bad"}>{readiness.data.status}</dd>
              <dt>Database</dt>
              <dd className={readiness.data.database === "ok" ? "ok" : "bad"}>{readiness.data.database}</dd>
              <dt>Ingest</dt>
              <dd className={readiness.data.ingest === "ok" ? "ok" : "bad"}>{readiness.data.ingest}</dd>
            </dl>
          ) : (
            <p className="muted">{readiness.error ?? "…"}</p>
          )}
          <p className="muted small">From /readyz.</p>
        </div>
      </section>

      <section className="charts" aria-label="Charts">
        <div className="card">
          <h2>Log volume per service</h2>
          <LineChart title="Log lines per interval and service" labels={labels} series={volume} yTitle="lines" />
        </div>
        <div className="card">
          <h2>Error rate per service</h2>
          <LineChart title="Error lines in percent per interval and service" labels={labels} series={errorRate} yTitle="% errors" yMax={100} />
        </div>
      </section>

      <section className="card" aria-labelledby="templates-title">
        <h2 id="templates-title">Top templates</h2>
        {templates.length === 0 ? (
          <p className="muted">{overview.data ? "No templated lines in this range." : "…"}</p>
        ) : (
          <TableScroll label="Templates, most lines first">
            <table>
              <thead>
                <tr>
                  <th scope="col">Template</th>
                  <th scope="col" className="num">Lines</th>
                  <th scope="col">Example</th>
                </tr>
              </thead>
              <tbody>
                {templates.map((t) => (
                  <tr key={t.template_id}>
                    <td>
                      <a href={href("/logs", { template: t.template_id })} aria-label={`Lines of template ${t.template_id}`}>
                        <LogText text={t.template_id} />
                      </a>
                    </td>
                    <td className="num">{formatNumber(t.count)}</td>
                    <td><LogText text={t.example} className="wrap" /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>

      {pipeline && pipeline.dead_letters.latest.length > 0 && (
        <section className="card" aria-labelledby="dead-letters-title">
          <h2 id="dead-letters-title">Newest dead letters</h2>
          <TableScroll label="Dead letters, newest first">
            <table>
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Detail</th>
                  <th scope="col">Kafka position</th>
                </tr>
              </thead>
              <tbody>
                {pipeline.dead_letters.latest.map((letter) => (
                  <tr key={letter.id}>
                    <td className="nowrap"><Time iso={letter.received_at} /></td>
                    <td>{letter.reason}</td>
                    <td><LogText text={letter.detail} className="wrap" /></td>
                    <td>{letter.source ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        </section>
      )}
    </>
  );
}
