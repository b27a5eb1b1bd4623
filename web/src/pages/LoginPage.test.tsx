import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { REFRESH_KEY, clearTokens, getAccessToken } from "../auth/session";
import { json, mockFetch, notFound } from "../test/fetchMock";
import { TOKENS, me } from "../test/fixtures";

vi.mock("../components/LineChart", () => ({ LineChart: () => null }));

const EMPTY_STATS = {
  since: "2025-01-01T09:00:00Z",
  until: "2025-01-01T10:00:00Z",
  interval_seconds: 60,
  series: [],
  top_templates: [],
};

function overviewApi() {
  return mockFetch((call) => {
    switch (call.path) {
      case "/api/v1/auth/login":
        return call.body && (call.body as { password: string }).password === "s3cret"
          ? json(TOKENS)
          : json({ detail: "wrong username or password" }, 401);
      case "/api/v1/auth/me":
        return call.authorization === `Bearer ${TOKENS.access_token}`
          ? json(me("operator", "alice"))
          : json({ detail: "not signed in" }, 401);
      case "/api/v1/stats":
        return json(EMPTY_STATS);
      case "/api/v1/incidents":
        return json([]);
      case "/readyz":
        return json({ status: "ok", database: "ok", ingest: "ok" });
      default:
        return notFound(call);
    }
  });
}

describe("login form", () => {
  it("has labelled fields and signs in with them", async () => {
    clearTokens();
    const { calls } = overviewApi();
    render(<App />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "s3cret");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("heading", { name: "Overview" })).toBeInTheDocument();
    const login = calls.find((c) => c.path === "/api/v1/auth/login");
    expect(login?.method).toBe("POST");
    expect(login?.body).toEqual({ username: "alice", password: "s3cret" });
    expect(login?.authorization).toBeNull();
    // the access token in memory only, the refresh token in sessionStorage
    expect(getAccessToken()).toBe(TOKENS.access_token);
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe(TOKENS.refresh_token);
    expect(JSON.stringify(window.sessionStorage)).not.toContain(TOKENS.access_token);
    expect(window.localStorage.length).toBe(0);
    expect(screen.getByText(/alice/)).toBeInTheDocument();
  });

  it("shows the API's refusal and clears the password", async () => {
    clearTokens();
    overviewApi();
    render(<App />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("wrong username or password");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    expect(getAccessToken()).toBeNull();
  });

  it("asks for both fields before sending anything", async () => {
    clearTokens();
    const { calls } = overviewApi();
    render(<App />);
    await userEvent.setup().click(screen.getByRole("button", { name: "Sign in" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Enter a username and a password.");
    expect(calls).toHaveLength(0);
  });

  it("tells how long to wait when logins are rate limited", async () => {
    clearTokens();
    mockFetch(() => ({ status: 429, body: { detail: "too many login attempts" }, headers: { "Retry-After": "42" } }));
    render(<App />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "x");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("too many login attempts (retry in 42 s)");
  });

  it("signs in again from the refresh token after a reload, then signs out", async () => {
    clearTokens();
    window.sessionStorage.setItem(REFRESH_KEY, "refresh-0");
    const { calls } = mockFetch((call) => {
      if (call.path === "/api/v1/auth/refresh") return json(TOKENS);
      if (call.path === "/api/v1/auth/me") return json(me("viewer", "bob"));
      if (call.path === "/api/v1/stats") return json(EMPTY_STATS);
      if (call.path === "/api/v1/auth/logout") return { status: 204 };
      if (call.path === "/readyz") return json({ status: "ok", database: "ok", ingest: "ok" });
      return notFound(call);
    });
    render(<App />);
    expect(await screen.findByRole("heading", { name: "Overview" })).toBeInTheDocument();
    expect(calls[0]?.path).toBe("/api/v1/auth/refresh");
    expect(calls[0]?.body).toEqual({ refresh_token: "refresh-0" });
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe(TOKENS.refresh_token);

    await userEvent.setup().click(screen.getByRole("button", { name: "Sign out" }));
    await waitFor(() => expect(screen.getByLabelText("Username")).toBeInTheDocument());
    expect(getAccessToken()).toBeNull();
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/auth/logout")).toBe(true));
    const logout = calls.find((c) => c.path === "/api/v1/auth/logout");
    expect(logout?.body).toEqual({ refresh_token: TOKENS.refresh_token });
    expect(logout?.authorization).toBeNull();
  });
});
