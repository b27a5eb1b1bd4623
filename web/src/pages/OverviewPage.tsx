import { useMemo, useState } from "react";
import { anonymousApi, api } from "../api/client";
import { unwrap } from "../api/errors";
import type { IncidentSummary, Readiness, Stats } from "../api/types";
import { ErrorNotice, LogText, PageTitle, SeverityBadge, TableScroll, UpdatedAt } from "../components/common";
import { LineChart } from "../components/LineChart";
import { formatClock, formatNumber } from "../lib/format";
import { href } from "../lib/router";
import { countBySeverity, toSeries } from "../lib/series";
import { usePolling } from "../lib/usePolling";

/** The ranges offered, with an interval that keeps each chart under ~100 points. */
export const RANGES = [
  { id: "1h", label: "Last hour", seconds: 3600, interval: 60 },
  { id: "6h", label: "Last 6 hours", seconds: 6 * 3600, interval: 300 },
  { id: "24h", label: "Last 24 hours", seconds: 24 * 3600, interval: 900 },
] as const;
type RangeId = (typeof RANGES)[number]["id"];

/** How many open incidents are counted (the API has no count: it lists at most 1000). */
const OPEN_LIMIT = 1000;

interface Overview {
  stats: Stats;
  open: IncidentSummary[];
}

async function loadOverview(rangeId: RangeId): Promise<Overview> {
  const range = RANGES.find((r) => r.id === rangeId) ?? RANGES[0];
  const until = new Date();
  const since = new Date(until.getTime() - range.seconds * 1000);
  const [stats, open] = await Promise.all([
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
    api
      .GET("/api/v1/incidents", { params: { query: { open: true, limit: OPEN_LIMIT } } })
      .then(unwrap),
  ]);
  return { stats, open };
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
  const severities = overview.data ? countBySeverity(overview.data.open) : null;
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
          {severities ? (
            <ul className="severity-counts">
              {severities.map(([severity, count]) => (
                <li key={severity}>
                  <a href={href("/incidents", { open: "true", severity })}>
                    <SeverityBadge severity={severity} />
                    <span className="count">{formatNumber(count)}</span>
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">…</p>
          )}
          {overview.data && overview.data.open.length >= OPEN_LIMIT && (
            <p className="muted">Counted over the newest {OPEN_LIMIT} open incidents.</p>
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
          <p className="muted small">From /readyz. The processors' own health is not exposed by the API.</p>
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
          <TableScroll label="Top templates">
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
                    <td><LogText text={t.template_id} /></td>
                    <td className="num">{formatNumber(t.count)}</td>
                    <td><LogText text={t.example} className="wrap" /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>
    </>
  );
}
