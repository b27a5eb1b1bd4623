import { describe, expect, it } from "vitest";
import {
  atLeast,
  canActOnIncidents,
  canAdminister,
  canBacktest,
  canEditPlaybooks,
  canEditRules,
  canViewResources,
  navItems,
} from "./roles";

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

  it("offers editing as the API grants it: rules to operators, playbooks and the admin page to admins", () => {
    expect([canEditRules("viewer"), canEditRules("operator"), canEditRules("admin")]).toEqual([false, true, true]);
    expect([canEditPlaybooks("viewer"), canEditPlaybooks("operator"), canEditPlaybooks("admin")]).toEqual([false, false, true]);
    expect([canBacktest("viewer"), canBacktest("operator"), canBacktest(null)]).toEqual([false, true, false]);
    expect([canAdminister("operator"), canAdminister("admin"), canAdminister(undefined)]).toEqual([false, true, false]);
  });

  it("gives each role its navigation", () => {
    const labels = (role: Parameters<typeof navItems>[0]) => navItems(role).map((i) => i.label);
    expect(labels("viewer")).toEqual(["Overview", "Incidents", "Logs"]);
    expect(labels("operator")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks"]);
    expect(labels("admin")).toEqual(["Overview", "Incidents", "Logs", "Rules", "Playbooks", "Admin"]);
  });
});
