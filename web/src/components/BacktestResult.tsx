import type { BacktestResult as Result } from "../api/types";
import { formatNumber } from "../lib/format";
import { TableScroll, Time } from "./common";

export const BACKTEST_RANGES = [
  { hours: 1, label: "Last hour" },
  { hours: 6, label: "Last 6 hours" },
  { hours: 24, label: "Last 24 hours" },
] as const;

/** What a backtest found: how much it read, whether the rule could run, and the incidents it
 * would have opened. Summaries hold log text: rendered as text only. */
export function BacktestResult({ result }: { result: Result }) {
  const refusals = Object.entries(result.refused);
  return (
    <section className="backtest-result" aria-labelledby="backtest-result-title">
      <h3 id="backtest-result-title">Backtest result</h3>
      <dl className="facts">
        <dt>Range</dt>
        <dd>
          <Time iso={result.since} /> – <Time iso={result.until} />
        </dd>
        <dt>Records read</dt>
        <dd>{formatNumber(result.records)}</dd>
        <dt>Took</dt>
        <dd>{result.seconds.toFixed(2)} s</dd>
        <dt>Incidents</dt>
        <dd>{formatNumber(result.incidents.length)}</dd>
      </dl>
      {refusals.map(([rule, reason]) => (
        <p key={rule} className="notice notice-error">
          {rule} cannot run: {reason}
        </p>
      ))}
      {result.incidents.length === 0 ? (
        <p className="muted">It would have opened no incident.</p>
      ) : (
        <TableScroll label="Incidents the rule would have opened">
          <table>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">First seen</th>
                <th scope="col">Last seen</th>
                <th scope="col" className="num">Occurrences</th>
                <th scope="col">Summary</th>
              </tr>
            </thead>
            <tbody>
              {result.incidents.map((incident, index) => (
                <tr key={index}>
                  <td>{incident.namespace}/{incident.service}</td>
                  <td className="nowrap"><Time iso={incident.firstSeen} /></td>
                  <td className="nowrap"><Time iso={incident.lastSeen} /></td>
                  <td className="num">{formatNumber(incident.occurrences)}</td>
                  <td>{incident.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </section>
  );
}
