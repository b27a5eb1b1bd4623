import { screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { IncidentCounts, PipelineReport } from "../api/types";
import { clearTokens } from "../auth/session";
import { json, notFound } from "../test/fetchMock";
import type { Call } from "../test/fetchMock";
import { renderSignedIn } from "../test/render";

vi.mock("../components/LineChart", () => ({ LineChart: () => null }));

const COUNTS: IncidentCounts = {
  open: 4,
  by_severity: { critical: 1, high: 2, medium: 0, low: 1, info: 0 },
  by_phase: { Open: 2, AwaitingApproval: 2, Remediating: 0, Mitigated: 0, Escalated: 0 },
};

const BEHIND: PipelineReport = {
  healthy: false,
  reason: "partition 2 of topic logs is 95 s behind (4000 records); the bound is 30 s",
  max_lag_seconds: 95,
  max_lag_records: 4000,
  bound_seconds: 30,
  partitions: [
    { consumer: "p-1", topic: "logs", partition: 2, lag_records: 4000, lag_seconds: 95, heartbeat_age_seconds: 1 },
  ],
  dead_letters: {
    total: 7,
    last_hour: 3,
    latest: [
      { id: 9, received_at: "2025-01-01T09:59:00Z", reason: "invalid JSON", detail: "<img src=x onerror=alert(1)>", payload_size: 30, source: "logs/2/118" },
    ],
  },
};

function overviewApi(call: Call) {
  if (call.path === "/api/v1/stats") {
    return json({ since: "2025-01-01T09:00:00Z", until: "2025-01-01T10:00:00Z", interval_seconds: 60, series: [], top_templates: [] });
  }
  if (call.path === "/api/v1/stats/incidents") return json(COUNTS);
  if (call.path === "/api/v1/pipeline") return json(BEHIND);
  if (call.path === "/readyz") return json({ status: "ok", database: "ok", ingest: "ok" });
  return notFound(call);
}

describe("overview", () => {
  it("counts open incidents by severity and points at those awaiting approval", async () => {
    clearTokens();
    renderSignedIn("viewer", "#/", overviewApi);
    const link = await screen.findByRole("link", { name: "2 awaiting approval" });
    expect(link).toHaveAttribute("href", "#/incidents?open=true&phase=AwaitingApproval");
    const critical = screen.getAllByRole("link").find((a) => a.getAttribute("href") === "#/incidents?open=true&severity=critical");
    expect(critical).toHaveTextContent("1");
  });

  it("shows the pipeline's verdict, its lag and dead letters as text", async () => {
    clearTokens();
    const { container } = renderSignedIn("viewer", "#/", overviewApi);
    expect(await screen.findByText("Behind or silent")).toBeInTheDocument();
    expect(screen.getByText(BEHIND.reason)).toBeInTheDocument();
    expect(screen.getByText("3 in the last hour, 7 in all")).toBeInTheDocument();
    const letters = screen.getByRole("region", { name: "Newest dead letters" });
    expect(within(letters).getByText("<img src=x onerror=alert(1)>")).toBeInTheDocument();
    expect(within(letters).getByText("logs/2/118")).toBeInTheDocument();
    expect(container.querySelector("img")).toBeNull();
  });
});
