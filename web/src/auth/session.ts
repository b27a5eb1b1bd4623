// The tokens of the signed-in user. The access token lives in memory only (gone on reload);
// the refresh token in sessionStorage (this tab, until it closes), so a reload signs in again
// by refreshing. Refresh tokens are single use: every refresh stores the new one (rotation).
import type { Tokens } from "../api/types";

export const REFRESH_KEY = "logsentinel.refreshToken";
const REFRESH_PATH = "/api/v1/auth/refresh";

let accessToken: string | null = null;
let refreshing: Promise<RefreshOutcome> | null = null;
const endedListeners = new Set<() => void>();

/** "refreshed": new tokens stored; "refused": the API said no (sign in again);
 * "unreachable": no answer (the refresh token is kept for a later try). */
export type RefreshOutcome = "refreshed" | "refused" | "unreachable";

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the session lasts as long as the page
  }
}

export function storeTokens(tokens: Tokens): void {
  accessToken = tokens.access_token;
  storage()?.setItem(REFRESH_KEY, tokens.refresh_token);
}

export function clearTokens(): void {
  accessToken = null;
  storage()?.removeItem(REFRESH_KEY);
}

export function getAccessToken(): string | null {
  return accessToken;
}

export function getRefreshToken(): string | null {
  return storage()?.getItem(REFRESH_KEY) ?? null;
}

/** Whether there is anything to make requests with (an access or a refresh token). */
export function hasSession(): boolean {
  return accessToken !== null || getRefreshToken() !== null;
}

/** Called when the session ends by itself (refresh refused): the app shows the login page. */
export function onSessionEnded(listener: () => void): () => void {
  endedListeners.add(listener);
  return () => {
    endedListeners.delete(listener);
  };
}

/** Forget the tokens and tell the app, which shows the login page. */
export function endSession(): void {
  clearTokens();
  for (const listener of [...endedListeners]) {
    listener();
  }
}

/** Exchange the refresh token for a new pair. Concurrent callers share one request, so a
 * burst of 401s spends the (single-use) refresh token once. */
export function refreshTokens(): Promise<RefreshOutcome> {
  refreshing ??= exchange().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function exchange(): Promise<RefreshOutcome> {
  const token = getRefreshToken();
  if (token === null) {
    accessToken = null;
    return "refused";
  }
  let response: Response;
  try {
    response = await globalThis.fetch(
      new Request(new URL(REFRESH_PATH, window.location.origin), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      }),
    );
  } catch {
    return "unreachable";
  }
  if (response.status === 200) {
    try {
      storeTokens((await response.json()) as Tokens);
      return "refreshed";
    } catch {
      // an answer that is not the tokens: treat as refused
    }
  }
  if (response.status >= 500 || response.status === 429) {
    return "unreachable"; // the API is busy: the token was not used up
  }
  clearTokens();
  return "refused";
}

function withToken(request: Request, token: string | null): Request {
  if (token !== null) {
    request.headers.set("Authorization", `Bearer ${token}`);
  }
  return request;
}

/** fetch for the API client: sends the access token; on a 401 refreshes once (or waits for
 * the refresh already under way) and repeats the request once; when that fails too, the
 * session ends. */
export async function authFetch(request: Request): Promise<Response> {
  const again = request.clone(); // a body can be read once: keep a copy for the repeat
  const used = accessToken;
  const response = await globalThis.fetch(withToken(request, used));
  if (response.status !== 401) {
    return response;
  }
  // Another request may have refreshed since this one left: then just repeat it.
  const outcome =
    accessToken !== null && accessToken !== used ? "refreshed" : await refreshTokens();
  if (outcome === "unreachable") {
    return response;
  }
  if (outcome === "refused") {
    endSession();
    return response;
  }
  const repeated = await globalThis.fetch(withToken(again, accessToken));
  if (repeated.status === 401) {
    endSession();
  }
  return repeated;
}
