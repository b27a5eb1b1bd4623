import type { StatsPoint } from "../api/types";

export interface ServiceSeries {
  service: string;
  totals: number[];
  /** Percent of error lines, null where the service wrote nothing. */
  errorRates: (number | null)[];
}

export interface Series {
  /** The start of every interval of the range (aligned to the epoch, as the API buckets). */
  starts: Date[];
  services: ServiceSeries[];
}

/** Per service, one value per interval of [since, until), intervals without lines as 0 lines
 * and no error rate (the API leaves them out). */
export function toSeries(
  points: StatsPoint[],
  since: string,
  until: string,
  intervalSeconds: number,
): Series {
  const step = intervalSeconds * 1000;
  const first = Math.floor(new Date(since).getTime() / step) * step;
  const end = new Date(until).getTime();
  const starts: Date[] = [];
  for (let at = first; at < end && starts.length <= 5000; at += step) {
    starts.push(new Date(at));
  }
  const index = new Map(starts.map((date, i) => [date.getTime(), i]));
  const byService = new Map<string, ServiceSeries>();
  for (const point of points) {
    let series = byService.get(point.service);
    if (!series) {
      series = {
        service: point.service,
        totals: starts.map(() => 0),
        errorRates: starts.map(() => null),
      };
      byService.set(point.service, series);
    }
    const at = index.get(new Date(point.start).getTime());
    if (at === undefined) {
      continue;
    }
    series.totals[at] = point.total;
    series.errorRates[at] = point.total ? Math.round(point.error_rate * 10_000) / 100 : null;
  }
  const services = [...byService.values()].sort((a, b) => a.service.localeCompare(b.service));
  return { starts, services };
}
