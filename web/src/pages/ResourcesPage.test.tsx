import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { DetectionRule, Playbook } from "../api/types";
import { clearTokens } from "../auth/session";
import { EXAMPLE_SPECS } from "../components/ManifestEditor";
import type { Call } from "../test/fetchMock";
import { json, notFound } from "../test/fetchMock";
import { renderSignedIn } from "../test/render";

const WINDOW_422 = {
  detail: [
    {
      type: "value_error",
      loc: ["body", "detector", "threshold", "window"],
      msg: "Value error, invalid duration 'soon': expected like 30s, 5m, 1h or 1h30m",
      input: "soon",
      ctx: { error: {} },
    },
  ],
};

function rule(namespace: string, name: string, spec: Record<string, unknown>): DetectionRule {
  return { apiVersion: "logsentinel.io/v1alpha1", kind: "DetectionRule", metadata: { namespace, name }, spec } as unknown as DetectionRule;
}

const PLAYBOOK = {
  apiVersion: "logsentinel.io/v1alpha1",
  kind: "Playbook",
  metadata: { namespace: "shop", name: "restart" },
  spec: { mode: "dryRun", triggers: { incidentTypes: ["ErrorBurst"] }, steps: [{ type: "rolloutRestart" }] },
} as unknown as Playbook;

/** Rules kept in memory: PUT answers 422 when the window is "soon", as the API does. */
function rulesApi(rules: DetectionRule[] = []) {
  return (call: Call) => {
    if (call.method === "GET" && call.path === "/api/v1/rules") return json(rules);
    const item = /^\/api\/v1\/rules\/([^/]+)\/([^/]+)$/.exec(call.path);
    if (item && call.method === "PUT") {
      const spec = call.body as { detector?: { threshold?: { window?: string } } };
      if (spec.detector?.threshold?.window === "soon") return json(WINDOW_422, 422);
      const saved = rule(item[1] ?? "", item[2] ?? "", call.body as Record<string, unknown>);
      const at = rules.findIndex((r) => r.metadata.name === saved.metadata.name);
      if (at >= 0) rules.splice(at, 1, saved);
      else rules.push(saved);
      return json(saved, at >= 0 ? 200 : 201);
    }
    if (item && call.method === "DELETE") {
      rules.splice(rules.findIndex((r) => r.metadata.name === item[2]), 1);
      return { status: 204 };
    }
    return notFound(call);
  };
}

async function typeSpec(text: string) {
  const user = userEvent.setup();
  const spec = screen.getByLabelText("Spec (YAML)");
  await user.clear(spec);
  await user.click(spec);
  await user.paste(text);
  return user;
}

describe("rule editor", () => {
  it("shows the API's error against the field and its line, then saves and selects the rule", async () => {
    clearTokens();
    const { calls } = renderSignedIn("admin", "#/rules", rulesApi());
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "New rule" }));
    const form = await screen.findByRole("form", { name: "New rule" });
    await user.clear(within(form).getByLabelText("Namespace"));
    await user.type(within(form).getByLabelText("Namespace"), "shop");
    await user.type(within(form).getByLabelText("Name"), "errors");
    expect(screen.getByLabelText("Spec (YAML)")).toHaveValue(EXAMPLE_SPECS.rules);
    await typeSpec(EXAMPLE_SPECS.rules.replace("window: 1m", "window: soon"));
    await user.click(within(form).getByRole("button", { name: "Create rule" }));

    const alert = await within(form).findByRole("alert");
    const problem = within(alert).getByRole("listitem");
    expect(problem).toHaveTextContent(
      "spec.detector.threshold.window (line 12): invalid duration 'soon': expected like 30s, 5m, 1h or 1h30m",
    );
    const spec = screen.getByLabelText("Spec (YAML)");
    expect(spec).toHaveAttribute("aria-invalid", "true");
    expect(spec).toHaveAccessibleDescription(expect.stringContaining("spec.detector.threshold.window"));
    expect(form.querySelector(".gutter-marked")).toHaveTextContent("12");

    // the line button puts the caret on the field's line
    await user.click(within(problem).getByRole("button", { name: "line 12" }));
    const area = spec as HTMLTextAreaElement;
    expect(area).toHaveFocus();
    expect(area.value.slice(area.selectionStart, area.selectionEnd)).toBe("    window: soon");

    await typeSpec(EXAMPLE_SPECS.rules);
    await user.click(within(form).getByRole("button", { name: "Create rule" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Created rule shop/errors.");
    const put = calls.filter((c) => c.method === "PUT").at(-1);
    expect(put?.path).toBe("/api/v1/rules/shop/errors");
    expect(put?.body).toMatchObject({ severity: "high", detector: { type: "threshold", threshold: { count: 5, window: "1m" } } });
    expect(await screen.findByRole("heading", { name: "shop/errors" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Hide shop/errors" })).toHaveAttribute("aria-pressed", "true");
    expect(calls.filter((c) => c.method === "GET" && c.path === "/api/v1/rules")).toHaveLength(2);
  });

  it("shows a YAML syntax error with its line and sends nothing", async () => {
    clearTokens();
    const { calls } = renderSignedIn("admin", "#/rules", rulesApi());
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "New rule" }));
    await user.type(await screen.findByLabelText("Name"), "x");
    await typeSpec("severity: high\ndetector:\n\t- x\n");
    await user.click(screen.getByRole("button", { name: "Create rule" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("YAML syntax error on line 3: Tabs are not allowed as indentation");
    expect(calls.some((c) => c.method === "PUT")).toBe(false);
  });

  it("shows a 409's sentence as the API wrote it", async () => {
    clearTokens();
    const existing = rule("shop", "errors", { severity: "high", incidentType: "ErrorBurst", detector: { type: "threshold" } });
    renderSignedIn("operator", "#/rules", (call) =>
      call.method === "PUT" ? json({ detail: "the manifests directory is busy: another writer holds it" }, 409) : rulesApi([existing])(call),
    );
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Show shop/errors" }));
    await user.click(screen.getByRole("button", { name: "Edit shop/errors" }));
    expect(await screen.findByLabelText("Spec (YAML)")).toHaveValue("severity: high\nincidentType: ErrorBurst\ndetector:\n  type: threshold\n");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Not saved: the manifests directory is busy: another writer holds it");
  });

  it("deletes a rule after asking", async () => {
    clearTokens();
    const { calls } = renderSignedIn("admin", "#/rules", rulesApi([rule("shop", "errors", { severity: "high", detector: { type: "threshold" } })]));
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Show shop/errors" }));
    await user.click(screen.getByRole("button", { name: "Delete shop/errors" }));
    const question = screen.getByRole("group", { name: "Delete the rule shop/errors?" });
    expect(within(question).getByRole("button", { name: "Cancel" })).toHaveFocus();
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    await user.click(within(question).getByRole("button", { name: "Yes, delete" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Deleted rule shop/errors.");
    expect(calls.find((c) => c.method === "DELETE")?.path).toBe("/api/v1/rules/shop/errors");
    expect(await screen.findByText("None.")).toBeInTheDocument();
  });

  it("backtests the rule being edited and shows what it would have opened, as text", async () => {
    clearTokens();
    const result = {
      since: "2025-01-01T09:00:00Z",
      until: "2025-01-01T10:00:00Z",
      records: 1234,
      seconds: 0.42,
      refused: {},
      incidents: [
        {
          rule: "shop/errors",
          namespace: "shop",
          service: "checkout",
          groupKey: { service: "checkout" },
          firstSeen: "2025-01-01T09:10:00Z",
          lastSeen: "2025-01-01T09:20:00Z",
          occurrences: 7,
          summary: "7 errors: <img src=x onerror=alert(1)>",
          resolvedAt: null,
          evidence: {},
        },
      ],
    };
    const { calls, container } = renderSignedIn("operator", "#/rules", (call) =>
      call.path === "/api/v1/rules/backtest" ? json(result) : rulesApi()(call),
    );
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "New rule" }));
    await user.type(await screen.findByLabelText("Name"), "errors");
    await user.selectOptions(screen.getByLabelText("Range"), "Last 6 hours");
    await user.click(screen.getByRole("button", { name: "Backtest" }));

    const found = await screen.findByRole("region", { name: "Incidents the rule would have opened" });
    expect(within(found).getByText("7 errors: <img src=x onerror=alert(1)>")).toBeInTheDocument();
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByText("Records read").nextElementSibling).toHaveTextContent("1,234");
    const sent = calls.find((c) => c.path === "/api/v1/rules/backtest")?.body as { rule: unknown; from: string };
    expect(sent.rule).toMatchObject({ kind: "DetectionRule", metadata: { namespace: "default", name: "errors" }, spec: { severity: "high" } });
    const hours = (Date.now() - new Date(sent.from).getTime()) / 3_600_000;
    expect(hours).toBeGreaterThan(5.9);
    expect(hours).toBeLessThan(6.1);
  });
});

describe("role gating of the editors", () => {
  it("lets an operator edit rules (the API's writer grant for rules)", async () => {
    clearTokens();
    renderSignedIn("operator", "#/rules", rulesApi());
    expect(await screen.findByRole("button", { name: "New rule" })).toBeInTheDocument();
  });

  it("gives an operator no edit controls on playbooks", async () => {
    clearTokens();
    const { calls } = renderSignedIn("operator", "#/playbooks", (call) =>
      call.path === "/api/v1/playbooks" ? json([PLAYBOOK]) : notFound(call),
    );
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Show shop/restart" }));
    expect(screen.getByRole("heading", { name: "shop/restart" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "New playbook" })).toBeNull();
    expect(screen.queryByRole("button", { name: /^(Edit|Delete)/ })).toBeNull();
    expect(screen.queryByLabelText("Spec (YAML)")).toBeNull();
    expect(screen.getByText("Read-only for your role: admins change playbooks.")).toBeInTheDocument();
    await waitFor(() => expect(calls.every((c) => c.method === "GET")).toBe(true));
  });

  it("lets an admin edit playbooks, starting from a valid example", async () => {
    clearTokens();
    renderSignedIn("admin", "#/playbooks", (call) => (call.path === "/api/v1/playbooks" ? json([PLAYBOOK]) : notFound(call)));
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "New playbook" }));
    expect(await screen.findByLabelText("Spec (YAML)")).toHaveValue(EXAMPLE_SPECS.playbooks);
    expect(screen.queryByRole("button", { name: "Backtest" })).toBeNull();
  });
});
