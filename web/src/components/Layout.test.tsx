import { cleanup, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { clearTokens } from "../auth/session";
import { json, notFound } from "../test/fetchMock";
import { renderSignedIn } from "../test/render";
import type { Role } from "../api/types";

vi.mock("./LineChart", () => ({ LineChart: () => null }));

function overview(call: Parameters<typeof notFound>[0]) {
  if (call.path === "/api/v1/stats") {
    return json({ since: "2025-01-01T09:00:00Z", until: "2025-01-01T10:00:00Z", interval_seconds: 60, series: [], top_templates: [] });
  }
  if (call.path === "/api/v1/stats/incidents") return json({ open: 0, by_severity: {}, by_phase: {} });
  if (call.path === "/readyz") return json({ status: "ok", database: "ok", ingest: "ok" });
  if (call.path === "/api/v1/rules") return json([]);
  return notFound(call);
}

async function navLinks(role: Role, hash = "#/") {
  cleanup(); // one app at a time: a second call in a test must not find the first one's nav
  clearTokens();
  renderSignedIn(role, hash, overview);
  const nav = await screen.findByRole("navigation", { name: "Main" });
  return within(nav).getAllByRole("link").map((link) => link.textContent);
}

describe("role-based navigation", () => {
  it("shows a viewer no rules or playbooks", async () => {
    expect(await navLinks("viewer")).toEqual(["Overview", "Incidents", "Logs"]);
  });

  it("shows operators and admins rules and playbooks", async () => {
    expect(await navLinks("operator")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks"]);
    expect(await navLinks("admin")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks", "Admin"]);
  });

  it("marks the current page", async () => {
    await navLinks("viewer");
    expect(screen.getByRole("link", { name: "Overview" })).toHaveAttribute("aria-current", "page");
    expect(screen.getByRole("link", { name: "Logs" })).not.toHaveAttribute("aria-current");
  });

  it("does not show a viewer the rules page by its address", async () => {
    await navLinks("viewer", "#/rules");
    expect(screen.getByRole("heading", { name: "Not available" })).toBeInTheDocument();
  });

  it("shows an admin the rules page", async () => {
    await navLinks("admin", "#/rules");
    expect(await screen.findByText("None.")).toBeInTheDocument();
  });
});
