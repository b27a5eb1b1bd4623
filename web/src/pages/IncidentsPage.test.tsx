import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { clearTokens } from "../auth/session";
import { notFound } from "../test/fetchMock";
import { incident } from "../test/fixtures";
import { renderSignedIn } from "../test/render";
import { PAGE_SIZE, pageSummary } from "./IncidentsPage";

describe("incidents page", () => {
  it("asks for one page by offset and pages with the API's total", async () => {
    clearTokens();
    const { calls } = renderSignedIn("viewer", "#/incidents?severity=high&page=2", (call) => {
      if (call.path !== "/api/v1/incidents") return notFound(call);
      return { body: [incident({ name: "second-page-first" })], headers: { "X-Total-Count": String(PAGE_SIZE * 2 + 3) } };
    });
    expect(await screen.findByRole("link", { name: "second-page-first" })).toBeInTheDocument();
    const asked = calls.find((c) => c.path === "/api/v1/incidents");
    expect(asked?.query.get("offset")).toBe(String(PAGE_SIZE));
    expect(asked?.query.get("limit")).toBe(String(PAGE_SIZE));
    expect(asked?.query.get("severity")).toBe("high");
    const pager = screen.getByRole("navigation", { name: "Pages" });
    expect(pager).toHaveTextContent(`Page 2 of 3 (${PAGE_SIZE * 2 + 3} incidents)`);
    expect(screen.getByRole("link", { name: "Next" })).toHaveAttribute("href", "#/incidents?severity=high&page=3");
    expect(screen.getByRole("link", { name: "Previous" })).toHaveAttribute("href", "#/incidents?severity=high");
  });

  it("says how many pages there are", () => {
    expect(pageSummary(1, 0)).toBe("Page 1 of 1 (0 incidents)");
    expect(pageSummary(1, 1)).toBe("Page 1 of 1 (1 incident)");
    expect(pageSummary(2, PAGE_SIZE + 1)).toBe(`Page 2 of 2 (${PAGE_SIZE + 1} incidents)`);
  });
});
