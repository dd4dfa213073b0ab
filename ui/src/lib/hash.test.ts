import { describe, expect, it } from "vitest";
import { formatHash, parseHash } from "./hash";

describe("hash routes", () => {
  it("parses view, id and query", () => {
    const r = parseHash("#/sample/12");
    expect([r.view, r.id, r.query.toString()]).toEqual(["sample", 12, ""]);
    const b = parseHash("#/browse?split=a&part=test");
    expect([b.view, b.id, b.query.get("part")]).toEqual(["browse", null, "test"]);
    expect(parseHash("#/evaluate/3").id).toBe(3);
  });

  it("falls back to browse for unknown or empty hashes", () => {
    expect(parseHash("").view).toBe("browse");
    expect(parseHash("#/nope/1").view).toBe("browse");
  });

  it("formats what it parses", () => {
    for (const h of ["#/sample/12", "#/browse?split=a&part=test", "#/train", "#/evaluate/3"]) {
      const r = parseHash(h);
      expect(formatHash(r.view, r.id, r.query)).toBe(h);
    }
  });
});
