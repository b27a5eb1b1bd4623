// The typed API clients, made by openapi-fetch from the generated `paths`.
import createClient from "openapi-fetch";
import { authFetch } from "../auth/session";
import { revalidating } from "./revalidate";
import type { paths } from "./types";

function origin(): string {
  return window.location.origin; // same origin only: the API serves this app
}

/** For every request of a signed-in user: bearer token, refresh on 401, conditional GETs. */
const signedInFetch = revalidating((request) => authFetch(request));
export const api = createClient<paths>({
  baseUrl: origin(),
  fetch: signedInFetch,
});

/** For login (and /readyz): no token. */
export const anonymousApi = createClient<paths>({
  baseUrl: origin(),
  fetch: (request) => globalThis.fetch(request),
});
