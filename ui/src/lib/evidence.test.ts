import { describe, expect, it } from "vitest";
import type { Evidence, Value } from "../api/types";
import { byteToUtf16Table, segments, toUtf16Spans, valueClass } from "./evidence";

const enc = new TextEncoder();
/** Byte offset of the UTF-16 offset `u` in `text`. */
const byteAt = (text: string, u: number) => enc.encode(text.slice(0, u)).length;

function ev(text: string, needle: string, value: Value = "Positive", cls = "Edema"): Evidence {
  const u = text.indexOf(needle);
  return { class: cls, value, start: byteAt(text, u), end: byteAt(text, u + needle.length), rule: "r1" };
}

describe("byteToUtf16Table", () => {
  it("is the identity for ASCII", () => {
    expect([...byteToUtf16Table("abc")]).toEqual([0, 1, 2, 3]);
  });

  it("maps multi-byte characters (2, 3 and 4 bytes; surrogate pairs)", () => {
    const text = "é€😀x"; // 2 + 3 + 4 + 1 bytes; UTF-16 lengths 1 + 1 + 2 + 1
    const t = byteToUtf16Table(text);
    expect(t.length).toBe(11);
    expect(t[0]).toBe(0); // é
    expect(t[2]).toBe(1); // €
    expect(t[5]).toBe(2); // 😀 (high surrogate index)
    expect(t[9]).toBe(4); // x
    expect(t[10]).toBe(5); // end
    expect(t[6]).toBe(2); // inside 😀 → its start
  });
});

describe("toUtf16Spans", () => {
  it("recovers the evidence text after non-ASCII characters", () => {
    const text = "Épanchement pleural — “small” effusion 😀 and œdema.";
    const spans = toUtf16Spans(text, [ev(text, "effusion"), ev(text, "œdema", "Negative")]);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(["effusion", "œdema"]);
  });

  it("drops spans outside the text or empty", () => {
    const text = "abc";
    const bad: Evidence = { class: "X", value: "Positive", start: 2, end: 9, rule: "" };
    const empty: Evidence = { ...bad, start: 1, end: 1 };
    expect(toUtf16Spans(text, [bad, empty])).toEqual([]);
  });
});

describe("segments", () => {
  it("cuts at span boundaries and keeps the text whole", () => {
    const text = "No edema. Small effusion.";
    const spans = toUtf16Spans(text, [ev(text, "edema", "Negative"), ev(text, "effusion", "Positive", "Pleural Effusion")]);
    const segs = segments(text, spans);
    expect(segs.map((s) => s.text).join("")).toBe(text);
    expect(segs.filter((s) => s.evidence.length).map((s) => [s.text, s.evidence[0].class])).toEqual([
      ["edema", "Edema"],
      ["effusion", "Pleural Effusion"],
    ]);
  });

  it("handles overlapping spans and a sub-range", () => {
    const text = "large left effusion";
    const spans = toUtf16Spans(text, [ev(text, "left effusion", "Positive", "A"), ev(text, "effusion", "Uncertain", "B")]);
    const segs = segments(text, spans, 6, text.length);
    expect(segs.map((s) => [s.text, s.evidence.map((e) => e.class)])).toEqual([
      ["left ", ["A"]],
      ["effusion", ["A", "B"]],
    ]);
  });
});

describe("valueClass", () => {
  it("accepts numeric values and the labeler's enum names", () => {
    expect([1, 0, -1, null].map(valueClass)).toEqual(["pos", "neg", "unc", "blank"]);
    expect((["Positive", "Negative", "Uncertain"] as const).map(valueClass)).toEqual(["pos", "neg", "unc"]);
  });
});
