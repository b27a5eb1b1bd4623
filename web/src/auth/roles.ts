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
  return items;
}
