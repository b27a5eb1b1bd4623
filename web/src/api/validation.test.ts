import { describe, expect, it } from "vitest";
import { fieldProblems, formatPath, refusalOf } from "./validation";

// As the API answers (FastAPI's 422, checked against the running API)
const PUT_422 = {
  detail: [
    {
      type: "value_error",
      loc: ["body", "detector", "threshold", "window"],
      msg: "Value error, invalid duration 'soon': expected like 30s, 5m, 1h or 1h30m",
      input: "soon",
      ctx: { error: {} },
    },
    { type: "missing", loc: ["body", "match", "fields", 0, "field"], msg: "Field required", input: {} },
    {
      type: "field_error",
      loc: ["body", "detector"],
      msg: "is required when type is 'threshold'",
      input: { type: "threshold" },
      ctx: { field: "threshold", message: "is required when type is 'threshold'" },
    },
    { type: "string_pattern_mismatch", loc: ["path", "name"], msg: "String should match pattern 'x'", input: "Bad_Name" },
  ],
};

describe("fieldProblems", () => {
  it("places a PUT's errors in the manifest: the body is the spec, the URL names the object", () => {
    expect(fieldProblems(PUT_422, "put")).toEqual([
      { path: ["spec", "detector", "threshold", "window"], message: "invalid duration 'soon': expected like 30s, 5m, 1h or 1h30m" },
      { path: ["spec", "match", "fields", 0, "field"], message: "Field required" },
      { path: ["spec", "detector", "threshold"], message: "is required when type is 'threshold'" },
      { path: ["metadata", "name"], message: "String should match pattern 'x'" },
    ]);
  });

  it("places a backtest's errors in the manifest sent as `rule`", () => {
    const body = { detail: [{ type: "enum", loc: ["body", "rule", "spec", "severity"], msg: "Input should be 'high'" }] };
    expect(fieldProblems(body, "backtest")).toEqual([{ path: ["spec", "severity"], message: "Input should be 'high'" }]);
  });

  it("is null for a body that is not a list of errors", () => {
    expect(fieldProblems({ detail: "user exists" }, "put")).toBeNull();
    expect(fieldProblems(undefined, "put")).toBeNull();
  });
});

describe("refusalOf", () => {
  it("gives field problems for a 422 and the API's sentence for anything else", () => {
    expect(refusalOf(PUT_422, new Response(null, { status: 422 }), "put")).toHaveProperty("fields");
    expect(refusalOf({ detail: "DetectionRule shop/x: stored object is invalid" }, new Response(null, { status: 409 }), "put")).toEqual({
      message: "DetectionRule shop/x: stored object is invalid",
    });
  });
});

describe("formatPath", () => {
  it("writes keys with dots and indexes in brackets", () => {
    expect(formatPath(["spec", "match", "fields", 0, "field"])).toBe("spec.match.fields[0].field");
    expect(formatPath([])).toBe("");
  });
});
