import { describe, expect, it } from "vitest";
import { atLeast, canActOnIncidents, canViewResources, navItems } from "./roles";

describe("roles", () => {
  it("orders admin > operator > viewer", () => {
    expect(atLeast("admin", "operator")).toBe(true);
    expect(atLeast("operator", "operator")).toBe(true);
    expect(atLeast("viewer", "operator")).toBe(false);
    expect(atLeast(null, "viewer")).toBe(false);
  });

  it("lets operators and admins act and see rules and playbooks", () => {
    expect(canActOnIncidents("viewer")).toBe(false);
    expect(canActOnIncidents("operator")).toBe(true);
    expect(canViewResources("viewer")).toBe(false);
    expect(canViewResources("admin")).toBe(true);
  });

  it("gives each role its navigation", () => {
    const labels = (role: Parameters<typeof navItems>[0]) => navItems(role).map((i) => i.label);
    expect(labels("viewer")).toEqual(["Overview", "Incidents", "Logs"]);
    expect(labels("operator")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks"]);
    expect(labels("admin")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks"]);
  });
});
