import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { IncidentDetail } from "../api/types";
import { clearTokens } from "../auth/session";
import { json, notFound } from "../test/fetchMock";
import type { Call } from "../test/fetchMock";
import { incident } from "../test/fixtures";
import { renderSignedIn } from "../test/render";

const NAME = "checkout-errorburst-1";

function incidentApi(detail: IncidentDetail) {
  return (call: Call) => {
    if (call.method === "GET" && call.path === `/api/v1/incidents/${NAME}`) return json(detail);
    if (call.method === "POST" && call.path === `/api/v1/incidents/${NAME}/approve`) return json({ status: "approved" }, 202);
    if (call.method === "POST" && call.path === `/api/v1/incidents/${NAME}/comments`) return json({ status: "commented" }, 201);
    if (call.method === "POST" && call.path === `/api/v1/incidents/${NAME}/acknowledge`)
      return json({ detail: "Kubernetes: the apiserver is away" }, 503);
    return notFound(call);
  };
}

describe("incident detail", () => {
  it("shows log lines as text, never as markup", async () => {
    clearTokens();
    const { container } = renderSignedIn("viewer", `#/incidents/${NAME}`, incidentApi(incident()));
    const line = await screen.findByText("payment failed: <script>alert(1)</script>");
    expect(line.tagName).toBe("CODE");
    expect(line.children).toHaveLength(0);
    expect(container.querySelector("script")).toBeNull();
    expect(document.querySelector("script")).toBeNull();
    // the rest of the evidence
    expect(screen.getByText("t-42")).toBeInTheDocument();
    expect(screen.getByRole("region", { name: "Kafka offsets" })).toHaveTextContent("logs");
    expect(screen.getByText("Threshold").nextElementSibling).toHaveTextContent("5");
  });

  it("hides the approve button from a viewer", async () => {
    clearTokens();
    renderSignedIn("viewer", `#/incidents/${NAME}`, incidentApi(incident({ phase: "AwaitingApproval" })));
    expect(await screen.findByRole("heading", { name: "Remediation awaits approval" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /approve/i })).toBeNull();
    expect(screen.queryByRole("button", { name: "Acknowledge" })).toBeNull();
    expect(screen.queryByLabelText("Comment")).toBeNull();
    expect(screen.getByText("An operator or an admin can approve it.")).toBeInTheDocument();
  });

  it("shows an operator the approve button on an incident awaiting approval, and approves", async () => {
    clearTokens();
    const { calls } = renderSignedIn("operator", `#/incidents/${NAME}`, incidentApi(incident({ phase: "AwaitingApproval" })));
    const approval = await screen.findByRole("region", { name: "Remediation awaits approval" });
    const button = within(approval).getByRole("button", { name: "Approve remediation" });
    await userEvent.setup().click(button);
    expect(await screen.findByRole("status")).toHaveTextContent("Approved");
    const approve = calls.find((c) => c.path.endsWith("/approve"));
    expect(approve?.method).toBe("POST");
    expect(approve?.authorization).toBe("Bearer access-1");
  });

  it("offers no approval when none is pending", async () => {
    clearTokens();
    renderSignedIn("operator", `#/incidents/${NAME}`, incidentApi(incident({ phase: "Open" })));
    expect(await screen.findByRole("button", { name: "Acknowledge" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /approve/i })).toBeNull();
  });

  it("comments, and shows the API's error when an action fails", async () => {
    clearTokens();
    const { calls } = renderSignedIn("operator", `#/incidents/${NAME}`, incidentApi(incident()));
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Comment"), "looking into it");
    await user.click(screen.getByRole("button", { name: "Add comment" }));
    await waitFor(() => expect(calls.some((c) => c.path.endsWith("/comments"))).toBe(true));
    expect(calls.find((c) => c.path.endsWith("/comments"))?.body).toEqual({ text: "looking into it" });
    expect(await screen.findByRole("status")).toHaveTextContent("Comment added.");

    await user.click(screen.getByRole("button", { name: "Acknowledge" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Could not acknowledge: Kubernetes: the apiserver is away",
    );
  });

  it("shows the pending playbook's steps with the one waiting for approval", async () => {
    clearTokens();
    const pending = incident({
      phase: "AwaitingApproval",
      remediation: {
        playbook: "shop/restart-checkout",
        mode: "approval",
        state: "AwaitingApproval",
        attempt: 1,
        step: 0,
        waiting_for: "approval",
        outcome: null,
        approved: false,
        steps: [
          { name: "restart", type: "rolloutRestart" },
          { name: "calm", type: "verify" },
        ],
      },
    });
    renderSignedIn("operator", `#/incidents/${NAME}`, incidentApi(pending));
    const approval = await screen.findByRole("region", { name: "Remediation awaits approval" });
    expect(approval).toHaveTextContent("Playbook shop/restart-checkout matched");
    const steps = within(approval).getAllByRole("listitem");
    expect(steps.map((s) => s.textContent)).toEqual(["restart (rolloutRestart)waits for approval", "calm (verify)"]);
    expect(steps[0]).toHaveAttribute("aria-current", "step");
    expect(within(approval).getByRole("button", { name: "Approve remediation" })).toBeEnabled();
  });

  it("shows a finished run with its outcome and no approval", async () => {
    clearTokens();
    const done = incident({
      phase: "Mitigated",
      remediation: {
        playbook: "shop/restart-checkout",
        mode: "auto",
        state: "Finished",
        attempt: 1,
        step: 2,
        waiting_for: null,
        outcome: "Succeeded",
        approved: false,
        steps: [
          { name: "restart", type: "rolloutRestart" },
          { name: "calm", type: "verify" },
        ],
      },
    });
    renderSignedIn("viewer", `#/incidents/${NAME}`, incidentApi(done));
    const run = await screen.findByRole("region", { name: "Playbook run" });
    expect(run).toHaveTextContent("Succeeded");
    expect(within(run).getAllByRole("listitem").every((li) => li.className === "step-done")).toBe(true);
    expect(screen.queryByRole("region", { name: "Remediation awaits approval" })).toBeNull();
  });
});
