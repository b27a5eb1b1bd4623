import { describe, expect, it } from "vitest";
import { lineOfPath, lineRange, parseYaml } from "./yamlSource";

const SPEC = [
  "selector:", // 1
  "  namespaces:", // 2
  "    - shop", // 3
  "match:", // 4
  "  fields:", // 5
  "    - field: message", // 6
  "      operator: contains", // 7
  "    - field: pod", // 8
  "      value: x", // 9
  "detector:", // 10
  "  type: zscore", // 11
  "  zscore: {window: 1m, baseline: soon}", // 12
  "severity: high", // 13
  "",
].join("\n");

describe("parseYaml", () => {
  it("reads a document into plain values", () => {
    expect(parseYaml("a: 1\nb: [x, 'y']\n")).toEqual({ ok: true, value: { a: 1, b: ["x", "y"] } });
  });

  it("gives a syntax error with its line", () => {
    const parsed = parseYaml("a: 1\nb:\n  c: [1, 2\nd: 4\n");
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? 0 : parsed.line).toBeGreaterThanOrEqual(3);
    const onFirst = parseYaml("a: b: c\n");
    expect(onFirst).toMatchObject({ ok: false, line: 1 });
  });
});

describe("lineOfPath", () => {
  it("finds the line of a key, nested in mappings", () => {
    expect(lineOfPath(SPEC, ["selector", "namespaces"])).toBe(2);
    expect(lineOfPath(SPEC, ["severity"])).toBe(13);
  });

  it("finds items of sequences by index, and keys inside them", () => {
    expect(lineOfPath(SPEC, ["selector", "namespaces", 0])).toBe(3);
    expect(lineOfPath(SPEC, ["match", "fields", 1])).toBe(8);
    expect(lineOfPath(SPEC, ["match", "fields", 1, "value"])).toBe(9);
    expect(lineOfPath(SPEC, ["match", "fields", 0, "operator"])).toBe(7);
  });

  it("finds keys of flow mappings", () => {
    expect(lineOfPath(SPEC, ["detector", "zscore", "baseline"])).toBe(12);
  });

  it("points a missing field at the deepest part that is there", () => {
    expect(lineOfPath(SPEC, ["detector", "zscore", "sigma"])).toBe(12);
    expect(lineOfPath(SPEC, ["match", "fields", 5, "value"])).toBe(5);
  });

  it("has no line for what is not in the document at all", () => {
    expect(lineOfPath(SPEC, ["incidentType"])).toBeUndefined();
    expect(lineOfPath(SPEC, [])).toBeUndefined();
    expect(lineOfPath("a: [1\n", ["a"])).toBeUndefined();
  });
});

describe("lineRange", () => {
  it("gives the offsets of a line", () => {
    const text = "one\ntwo\nthree";
    expect(lineRange(text, 1)).toEqual([0, 3]);
    expect(lineRange(text, 2)).toEqual([4, 7]);
    expect(text.slice(...lineRange(text, 3))).toBe("three");
  });
});
