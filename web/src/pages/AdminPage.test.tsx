import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { ApiKeyInfo, User } from "../api/types";
import { clearTokens } from "../auth/session";
import type { Call } from "../test/fetchMock";
import { json, notFound } from "../test/fetchMock";
import { renderSignedIn } from "../test/render";

const SECRET = "lsk_6fdea4f7496a_IJ6A72Lxf6ZSMQ_KlxaHqbAN7fOMX1sK3u8qxeep_sQ";

/** Users and keys kept in memory, answering as the API does (shapes checked against it). */
function adminApi(users: User[], keys: ApiKeyInfo[] = []) {
  return (call: Call) => {
    if (call.method === "GET" && call.path === "/api/v1/users") return json(users);
    if (call.method === "POST" && call.path === "/api/v1/users") {
      const body = call.body as { username: string; password: string; role: User["role"] };
      if (body.password.length < 12) {
        return json(
          { detail: [{ type: "string_too_short", loc: ["body", "password"], msg: "String should have at least 12 characters", input: body.password, ctx: { min_length: 12 } }] },
          422,
        );
      }
      const user: User = { username: body.username, role: body.role, disabled: false, createdAt: "2025-01-01T10:00:00Z" };
      users.push(user);
      return json(user, 201);
    }
    const userPath = /^\/api\/v1\/users\/(.+)$/.exec(call.path);
    if (call.method === "PATCH" && userPath) {
      const user = users.find((u) => u.username === userPath[1]);
      if (!user) return json({ detail: `no user ${userPath[1]}` }, 404);
      Object.assign(user, call.body);
      return json(user);
    }
    if (call.method === "GET" && call.path === "/api/v1/api-keys") return json(keys);
    if (call.method === "POST" && call.path === "/api/v1/api-keys") {
      const info: ApiKeyInfo = { id: "6fdea4f7496a", name: (call.body as { name: string }).name, createdBy: "alice", createdAt: "2025-01-01T10:00:00Z", revokedAt: null, lastUsedAt: null };
      keys.push(info);
      return json({ ...info, key: SECRET }, 201);
    }
    const keyPath = /^\/api\/v1\/api-keys\/(.+)$/.exec(call.path);
    if (call.method === "DELETE" && keyPath) {
      const key = keys.find((k) => k.id === keyPath[1]);
      if (key) key.revokedAt = "2025-01-01T11:00:00Z";
      return { status: 204 };
    }
    return notFound(call);
  };
}

function someUsers(): User[] {
  return [
    { username: "alice", role: "admin", disabled: false, createdAt: "2025-01-01T09:00:00Z" },
    { username: "bob", role: "viewer", disabled: false, createdAt: "2025-01-01T09:30:00Z" },
  ];
}

describe("admin page: users", () => {
  it("shows the API's refusal of a weak password next to the form, then creates the user", async () => {
    clearTokens();
    const { calls } = renderSignedIn("admin", "#/admin", adminApi(someUsers()));
    const user = userEvent.setup();
    const form = await screen.findByRole("form", { name: "New user" });
    await user.type(within(form).getByLabelText("Username"), "carol");
    await user.type(within(form).getByLabelText("Password"), "short");
    await user.selectOptions(within(form).getByLabelText("Role"), "operator");
    await user.click(within(form).getByRole("button", { name: "Create user" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("Not created: password: String should have at least 12 characters");

    await user.clear(within(form).getByLabelText("Password"));
    await user.type(within(form).getByLabelText("Password"), "a-long-enough-password");
    await user.click(within(form).getByRole("button", { name: "Create user" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Created user carol (operator).");
    expect(calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ username: "carol", password: "a-long-enough-password", role: "operator" });
    expect(await screen.findByRole("cell", { name: "carol" })).toBeInTheDocument();
    expect(within(form).getByLabelText("Password")).toHaveValue("");
  });

  it("changes a role and disables a user with PATCH", async () => {
    clearTokens();
    const { calls } = renderSignedIn("admin", "#/admin", adminApi(someUsers()));
    const user = userEvent.setup();
    const apply = await screen.findByRole("button", { name: "Apply role to bob" });
    expect(apply).toBeDisabled();
    await user.selectOptions(screen.getByLabelText("Role of bob"), "operator");
    await user.click(apply);
    expect(await screen.findByRole("status")).toHaveTextContent("bob is now operator.");
    await user.click(screen.getByRole("button", { name: "Disable bob" }));
    expect(await screen.findByRole("status")).toHaveTextContent("bob is disabled.");
    const patches = calls.filter((c) => c.method === "PATCH");
    expect(patches.map((c) => [c.path, c.body])).toEqual([
      ["/api/v1/users/bob", { role: "operator" }],
      ["/api/v1/users/bob", { disabled: true }],
    ]);
    expect(await screen.findByRole("button", { name: "Enable bob" })).toBeInTheDocument();
  });
});

describe("admin page: ingest keys", () => {
  it("shows a new key's secret once, read-only, and never again", async () => {
    clearTokens();
    renderSignedIn("admin", "#/admin", adminApi(someUsers()));
    const user = userEvent.setup();
    const form = await screen.findByRole("form", { name: "New ingest key" });
    await user.type(within(form).getByLabelText("Key name"), "fluent-bit");
    await user.click(within(form).getByRole("button", { name: "Create key" }));

    const secret = await screen.findByLabelText("Secret of key fluent-bit");
    expect(secret).toHaveValue(SECRET);
    expect(secret).toHaveAttribute("readonly");
    expect(secret).toHaveAccessibleDescription(expect.stringContaining("it is shown only this once"));
    const table = await screen.findByRole("region", { name: "Key list" });
    expect(within(table).getByText("fluent-bit")).toBeInTheDocument();
    expect(table).not.toHaveTextContent(SECRET);

    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByLabelText("Secret of key fluent-bit")).toBeNull();
    expect(document.body).not.toHaveTextContent(SECRET);
    expect(document.body.innerHTML).not.toContain(SECRET);
  });

  it("revokes a key after asking", async () => {
    clearTokens();
    const keys: ApiKeyInfo[] = [{ id: "k1", name: "old", createdBy: "alice", createdAt: "2025-01-01T09:00:00Z" }];
    const { calls } = renderSignedIn("admin", "#/admin", adminApi(someUsers(), keys));
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Revoke key old" }));
    const question = screen.getByRole("group", { name: "Revoke old? Services sending it are refused from now on." });
    await user.click(within(question).getByRole("button", { name: "Yes, revoke" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Revoked key old.");
    expect(calls.find((c) => c.method === "DELETE")?.path).toBe("/api/v1/api-keys/k1");
    expect(await screen.findByText(/^Revoked/, { selector: "span" })).toBeInTheDocument();
  });
});

describe("admin page: role gating", () => {
  it("is not offered to an operator, nor shown by its address", async () => {
    clearTokens();
    const { calls } = renderSignedIn("operator", "#/admin", adminApi(someUsers()));
    expect(await screen.findByRole("heading", { name: "Not available" })).toBeInTheDocument();
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).queryByRole("link", { name: "Admin" })).toBeNull();
    expect(screen.queryByRole("form", { name: "New user" })).toBeNull();
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/auth/me")).toBe(true));
    expect(calls.some((c) => c.path === "/api/v1/users" || c.path === "/api/v1/api-keys")).toBe(false);
  });

  it("is in an admin's navigation, after Playbooks", async () => {
    clearTokens();
    renderSignedIn("admin", "#/admin", adminApi(someUsers()));
    const nav = await screen.findByRole("navigation", { name: "Main" });
    const links = within(nav).getAllByRole("link").map((link) => link.textContent);
    expect(links.slice(-2)).toEqual(["Playbooks", "Admin"]);
    expect(within(nav).getByRole("link", { name: "Admin" })).toHaveAttribute("aria-current", "page");
  });
});
