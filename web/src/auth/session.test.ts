import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { json, mockFetch } from "../test/fetchMock";
import type { Call } from "../test/fetchMock";
import {
  REFRESH_KEY,
  authFetch,
  clearTokens,
  getAccessToken,
  onSessionEnded,
  storeTokens,
} from "./session";

const ORIGIN = window.location.origin;

function pair(access: string, refresh: string) {
  return { access_token: access, refresh_token: refresh, token_type: "bearer", expires_in: 900 };
}

function request(path: string, init?: RequestInit): Request {
  return new Request(`${ORIGIN}${path}`, init);
}

/** An API whose only valid access token is `valid`, and whose refresh gives out tokens n+1. */
function api(valid: string, refreshAnswer: (call: Call) => ReturnType<typeof json>) {
  return mockFetch((call) => {
    if (call.path === "/api/v1/auth/refresh") {
      return refreshAnswer(call);
    }
    return call.authorization === `Bearer ${valid}`
      ? json({ ok: true, body: call.body ?? null })
      : json({ detail: "the token has expired" }, 401);
  });
}

describe("authFetch", () => {
  beforeEach(() => clearTokens());
  afterEach(() => clearTokens());

  it("sends the access token as a bearer token", async () => {
    storeTokens(pair("a1", "r1"));
    const { calls } = api("a1", () => json({}, 500));
    const response = await authFetch(request("/api/v1/incidents"));
    expect(response.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.authorization).toBe("Bearer a1");
  });

  it("refreshes once on a 401, stores the rotated tokens and repeats the request", async () => {
    storeTokens(pair("old", "r1"));
    const { calls } = api("a2", (call) => {
      expect(call.body).toEqual({ refresh_token: "r1" });
      return json({ access_token: "a2", refresh_token: "r2", token_type: "bearer", expires_in: 900 });
    });
    const response = await authFetch(
      request("/api/v1/incidents/x/comments", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: "hi" }),
      }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, body: { text: "hi" } }); // body sent again
    expect(calls.map((c) => c.path)).toEqual([
      "/api/v1/incidents/x/comments",
      "/api/v1/auth/refresh",
      "/api/v1/incidents/x/comments",
    ]);
    expect(calls[2]?.authorization).toBe("Bearer a2");
    expect(getAccessToken()).toBe("a2");
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("r2"); // rotated
  });

  it("spends the refresh token once for concurrent 401s", async () => {
    storeTokens(pair("old", "r1"));
    const { calls } = api("a2", () =>
      json({ access_token: "a2", refresh_token: "r2", expires_in: 900 }),
    );
    const answers = await Promise.all([
      authFetch(request("/api/v1/logs")),
      authFetch(request("/api/v1/stats")),
      authFetch(request("/api/v1/incidents")),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1);
  });

  it("ends the session when the refresh is refused", async () => {
    storeTokens(pair("old", "used"));
    api("never", () => json({ detail: "the refresh token was already used or revoked" }, 401));
    const ended = vi.fn();
    const stop = onSessionEnded(ended);
    const response = await authFetch(request("/api/v1/incidents"));
    stop();
    expect(response.status).toBe(401);
    expect(ended).toHaveBeenCalledTimes(1);
    expect(getAccessToken()).toBeNull();
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it("refreshes only once: a second 401 ends the session", async () => {
    storeTokens(pair("old", "r1"));
    const { calls } = api("nothing-works", () =>
      json({ access_token: "a2", refresh_token: "r2", expires_in: 900 }),
    );
    const ended = vi.fn();
    const stop = onSessionEnded(ended);
    const response = await authFetch(request("/api/v1/incidents"));
    stop();
    expect(response.status).toBe(401);
    expect(calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1);
    expect(calls).toHaveLength(3);
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it("keeps the session when the API cannot be reached for the refresh", async () => {
    storeTokens(pair("old", "r1"));
    api("a2", () => json({ detail: "the database is busy or unavailable; retry later" }, 503));
    const ended = vi.fn();
    const stop = onSessionEnded(ended);
    const response = await authFetch(request("/api/v1/incidents"));
    stop();
    expect(response.status).toBe(401);
    expect(ended).not.toHaveBeenCalled();
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("r1");
  });
});
