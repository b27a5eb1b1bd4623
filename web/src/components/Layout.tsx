import type { MouseEvent, ReactNode } from "react";
import { useAuth } from "../auth/AuthContext";
import { navItems } from "../auth/roles";
import type { Role } from "../api/types";
import { href } from "../lib/router";

/** Whether a nav item is the current page (its own path or one below it). */
function isCurrent(itemPath: string, path: string): boolean {
  return itemPath === "/" ? path === "/" : path === itemPath || path.startsWith(`${itemPath}/`);
}

export function Nav({ role, path }: { role: Role | null; path: string }) {
  return (
    <nav aria-label="Main" className="main-nav">
      <ul>
        {navItems(role).map((item) => (
          <li key={item.path}>
            <a
              href={href(item.path)}
              aria-current={isCurrent(item.path, path) ? "page" : undefined}
            >
              {item.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function Layout({ path, children }: { path: string; children: ReactNode }) {
  const { state, logout } = useAuth();
  const me = state.status === "authenticated" ? state.me : null;
  return (
    <>
      <a className="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href={href("/")}>
          Log Sentinel
        </a>
        <Nav role={me?.role ?? null} path={path} />
        {me && (
          <div className="user">
            <span className="user-name">
              {me.identity} <span className="role">({me.role ?? "no role"})</span>
            </span>
            <button type="button" className="button-secondary" onClick={logout}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1} className="content">
        {children}
      </main>
    </>
  );
}

/** "#main" would change the route under hash routing: move the focus instead. */
function skipToMain(event: MouseEvent<HTMLAnchorElement>) {
  event.preventDefault();
  document.getElementById("main")?.focus();
}
