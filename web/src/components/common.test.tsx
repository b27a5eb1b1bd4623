import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { PageTitle } from "./common";

// In order: the module remembers for the document's life that the person has done something.
describe("PageTitle's focus", () => {
  it("leaves the focus at the top on the page shown as the document loads", () => {
    render(<PageTitle>Overview</PageTitle>);
    expect(screen.getByRole("heading", { name: "Overview" })).not.toHaveFocus();
  });

  it("takes the focus on a page opened after a key press, so screen readers announce it", () => {
    fireEvent.keyDown(window, { key: "Tab" });
    render(<PageTitle>Logs</PageTitle>);
    expect(screen.getByRole("heading", { name: "Logs" })).toHaveFocus();
  });
});
