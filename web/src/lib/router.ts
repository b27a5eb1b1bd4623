// Hash routing (#/incidents?phase=Open): served from a static directory with no rewrites, and
// the API's own paths never collide with the app's.
import { useSyncExternalStore } from "react";

export interface Route {
  path: string;
  query: URLSearchParams;
}

export type Query = Record<string, string | number | boolean | readonly string[] | null | undefined>;

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [pathPart = "", queryPart = ""] = raw.split("?", 2);
  let path = pathPart.startsWith("/") ? pathPart : `/${pathPart}`;
  if (path.length > 1 && path.endsWith("/")) {
    path = path.slice(0, -1);
  }
  return { path, query: new URLSearchParams(queryPart) };
}

/** "a=1&b=2", leaving out empty values; arrays repeat the key. */
export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) {
      continue;
    }
    if (Array.isArray(value)) {
      for (const item of value as readonly string[]) {
        params.append(key, item);
      }
    } else {
      params.set(key, String(value));
    }
  }
  return params.toString();
}

/** "#/path?query" (see queryString). */
export function href(path: string, query: Query = {}): string {
  const search = queryString(query);
  return `#${path}${search ? `?${search}` : ""}`;
}

export function navigate(path: string, query: Query = {}): void {
  window.location.hash = href(path, query);
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

function snapshot(): string {
  return window.location.hash;
}

/** The current route; re-renders on every hash change. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, snapshot, snapshot);
  return parseHash(hash);
}

/** The path's parameters for a pattern such as "/incidents/:name", or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const have = path.split("/");
  if (want.length !== have.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i] ?? "";
    const value = have[i] ?? "";
    if (part.startsWith(":")) {
      if (!value) {
        return null;
      }
      try {
        params[part.slice(1)] = decodeURIComponent(value);
      } catch {
        return null;
      }
    } else if (part !== value) {
      return null;
    }
  }
  return params;
}
