import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { FoundLog } from "../api/types";
import { clearTokens } from "../auth/session";
import { json, notFound } from "../test/fetchMock";
import { renderSignedIn } from "../test/render";

function line(id: number, message: string): FoundLog {
  return {
    id,
    timestamp: new Date(Date.UTC(2025, 0, 1, 10, 0, 60 - id)).toISOString(),
    level: "error",
    service: "checkout",
    namespace: "shop",
    pod: "checkout-1",
    message,
    template_id: null,
    trace_id: null,
    attributes: {},
  };
}

describe("logs page", () => {
  it("loads more with the cursor and the same filters, appending the lines", async () => {
    clearTokens();
    const { calls } = renderSignedIn("viewer", "#/logs?q=timeout&level=error", (call) => {
      if (call.path !== "/api/v1/logs") return notFound(call);
      return call.query.get("cursor") === "cursor-1"
        ? json({ items: [line(3, "third")], next_cursor: null })
        : json({ items: [line(1, "first"), line(2, "<b>second</b>")], next_cursor: "cursor-1" });
    });

    expect(await screen.findByText("first")).toBeInTheDocument();
    expect(screen.getByText("<b>second</b>")).toBeInTheDocument(); // text, not bold
    const first = calls.find((c) => c.path === "/api/v1/logs");
    expect(first?.query.get("q")).toBe("timeout");
    expect(first?.query.getAll("level")).toEqual(["error"]);
    expect(first?.query.get("cursor")).toBeNull();

    await userEvent.setup().click(screen.getByRole("button", { name: "Load more" }));
    expect(await screen.findByText("third")).toBeInTheDocument();
    const second = calls.filter((c) => c.path === "/api/v1/logs")[1];
    expect(second?.query.get("cursor")).toBe("cursor-1");
    expect(second?.query.get("q")).toBe("timeout");
    expect(second?.query.getAll("level")).toEqual(["error"]);
    // all three shown, in order, and no more to load
    expect(screen.getByText("first")).toBeInTheDocument();
    expect(screen.getAllByRole("row")).toHaveLength(4); // header + 3
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("searches with the form's filters", async () => {
    clearTokens();
    const { calls } = renderSignedIn("viewer", "#/logs", (call) =>
      call.path === "/api/v1/logs" ? json({ items: [], next_cursor: null }) : notFound(call),
    );
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Search text"), "disk full");
    await user.type(screen.getByLabelText("Namespace"), "shop");
    await user.click(screen.getByLabelText("warn"));
    await user.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(calls.filter((c) => c.path === "/api/v1/logs")).toHaveLength(2));
    const search = calls.filter((c) => c.path === "/api/v1/logs")[1];
    expect(search?.query.get("q")).toBe("disk full");
    expect(search?.query.getAll("namespace")).toEqual(["shop"]);
    expect(search?.query.getAll("level")).toEqual(["warn"]);
    expect(search?.query.get("limit")).toBe("100");
  });

  it("passes the template and pod filters from the address, and shows a line's context", async () => {
    clearTokens();
    const { calls } = renderSignedIn("viewer", "#/logs?template=t-9&pod=checkout-1", (call) => {
      if (call.path === "/api/v1/logs") return json({ items: [line(5, "chosen line")], next_cursor: null });
      if (call.path === "/api/v1/logs/context") {
        return json({ before: [line(4, "just before")], line: line(5, "chosen line"), after: [line(6, "just after")] });
      }
      return notFound(call);
    });
    expect(await screen.findByText("chosen line")).toBeInTheDocument();
    const search = calls.find((c) => c.path === "/api/v1/logs");
    expect(search?.query.getAll("template")).toEqual(["t-9"]);
    expect(search?.query.getAll("pod")).toEqual(["checkout-1"]);
    expect(screen.getByLabelText("Template")).toHaveValue("t-9");

    await userEvent.setup().click(screen.getByRole("button", { name: "Context" }));
    const around = await screen.findByRole("region", { name: "Lines of pod checkout-1 around the chosen one" });
    expect(around).toHaveTextContent("just before");
    expect(around).toHaveTextContent("just after");
    const asked = calls.find((c) => c.path === "/api/v1/logs/context");
    expect(asked?.query.get("id")).toBe("5");
    expect(screen.getByRole("button", { name: "Hide context" })).toHaveAttribute("aria-expanded", "true");
  });
});
