// What each role may see and do in the UI. The API stays the authority: this only hides or
// disables what a role would be refused anyway.
import type { Role } from "../api/types";

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` is `needed` or above (admin > operator > viewer); no role is nothing. */
export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return role != null && RANK[role] >= RANK[needed];
}

/** Acknowledge, approve, resolve and comment on incidents. */
export function canActOnIncidents(role: Role | null | undefined): boolean {
  return atLeast(role, "operator");
}

/** The rules and playbooks pages. */
export function canViewResources(role: Role | null | undefined): boolean {
  return atLeast(role, "operator");
}

/** Create, replace and delete detection rules: the API's writer grant for rules is operator. */
export function canEditRules(role: Role | null | undefined): boolean {
  return atLeast(role, "operator");
}

/** Create, replace and delete playbooks: the API's writer grant for playbooks is admin (a
 * playbook acts on workloads). */
export function canEditPlaybooks(role: Role | null | undefined): boolean {
  return atLeast(role, "admin");
}

/** Replay a rule over stored logs (POST /api/v1/rules/backtest). */
export function canBacktest(role: Role | null | undefined): boolean {
  return atLeast(role, "operator");
}

/** Users and ingest API keys: the admin page. */
export function canAdminister(role: Role | null | undefined): boolean {
  return atLeast(role, "admin");
}

export interface NavItem {
  path: string;
  label: string;
}

/** The navigation a role gets, in order. */
export function navItems(role: Role | null | undefined): NavItem[] {
  const items: NavItem[] = [
    { path: "/", label: "Overview" },
    { path: "/incidents", label: "Incidents" },
    { path: "/logs", label: "Logs" },
  ];
  if (canViewResources(role)) {
    items.push({ path: "/rules", label: "Rules" }, { path: "/playbooks", label: "Playbooks" });
  }
  if (canAdminister(role)) {
    items.push({ path: "/admin", label: "Admin" });
  }
  return items;
}
