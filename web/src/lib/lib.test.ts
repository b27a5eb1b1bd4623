import { describe, expect, it } from "vitest";
import { toSeries } from "./series";
import { toYaml } from "./yaml";
import { href, match, parseHash } from "./router";

describe("toSeries", () => {
  it("fills every interval of the range, per service", () => {
    const series = toSeries(
      [
        { service: "b", start: "2025-01-01T10:01:00Z", total: 10, errors: 1, error_rate: 0.1 },
        { service: "a", start: "2025-01-01T10:00:00Z", total: 4, errors: 0, error_rate: 0 },
      ],
      "2025-01-01T10:00:30Z",
      "2025-01-01T10:03:00Z",
      60,
    );
    expect(series.starts.map((d) => d.toISOString())).toEqual([
      "2025-01-01T10:00:00.000Z",
      "2025-01-01T10:01:00.000Z",
      "2025-01-01T10:02:00.000Z",
    ]);
    expect(series.services.map((s) => s.service)).toEqual(["a", "b"]);
    expect(series.services[1]?.totals).toEqual([0, 10, 0]);
    expect(series.services[1]?.errorRates).toEqual([null, 10, null]);
  });
});

describe("router", () => {
  it("parses and builds hash routes", () => {
    const route = parseHash("#/incidents?phase=Open&page=2");
    expect(route.path).toBe("/incidents");
    expect(route.query.get("phase")).toBe("Open");
    expect(href("/logs", { q: "a b", level: ["error", "warn"], since: "" })).toBe("#/logs?q=a+b&level=error&level=warn");
    expect(match("/incidents/:name", "/incidents/x.y")).toEqual({ name: "x.y" });
    expect(match("/incidents/:name", "/incidents")).toBeNull();
  });
});

describe("toYaml", () => {
  it("writes manifests readably and quotes what YAML would misread", () => {
    expect(
      toYaml({ kind: "Rule", spec: { levels: ["error"], window: "1m", on: "yes", count: 5, steps: [{ type: "scale", replicas: 2 }], empty: [] } }),
    ).toBe(
      [
        "kind: Rule",
        "spec:",
        "  levels:",
        "    - error",
        '  window: "1m"',
        '  "on": "yes"',
        "  count: 5",
        "  steps:",
        "    - type: scale",
        "      replicas: 2",
        "  empty: []",
        "",
      ].join("\n"),
    );
  });
});
