import { describe, expect, it } from "vitest";
import type { ClassEval } from "../../bindings/ClassEval";
import {
  browsePairsHash, curveSeries, fmt, formatCi, contrast,
  heatColor,
  luminance, heatmap, intensity, labelCells, multiClassCell,
  multiLabelCell, nextSort, pct, sortRows,
} from "./metrics";

function row(cls: string, f1: number, auroc: number | null, support = 10): ClassEval {
  return {
    class: cls, precision: f1, recall: f1, f1, support, ece: 0.1, threshold: 0.5, confusion: null, roc: [], pr: [],
    auroc: auroc === null ? null : { value: auroc, low: auroc - 0.1, high: auroc + 0.05 }, auprc: null,
  };
}

describe("formatting", () => {
  it("formats statistics and missing values", () => {
    expect(fmt(0.81234)).toBe("0.812");
    expect(fmt(null)).toBe("–");
    expect(fmt(Number.NaN)).toBe("–");
    expect(pct(0.8123)).toBe("81.2%");
    expect(pct(1)).toBe("100.0%");
  });
  it("formats a confidence interval with its bounds", () => {
    expect(formatCi({ value: 0.8123, low: 0.7412, high: 0.88 })).toEqual({ value: "0.812", interval: "[0.741–0.880]" });
    expect(formatCi({ value: 0.5, low: 0.25, high: 0.75 }, 2)).toEqual({ value: "0.50", interval: "[0.25–0.75]" });
    expect(formatCi(null)).toEqual({ value: "–", interval: "" });
  });
});

describe("sortRows", () => {
  const rows = [row("B", 0.5, 0.7), row("A", 0.9, null), row("C", 0.5, 0.9), row("D", 0.1, 0.6)];
  it("sorts by a number, ties in the original order", () => {
    expect(sortRows(rows, { key: "f1", desc: true }).map((r) => r.class)).toEqual(["A", "B", "C", "D"]);
    expect(sortRows(rows, { key: "f1", desc: false }).map((r) => r.class)).toEqual(["D", "B", "C", "A"]);
  });
  it("puts missing values last in both directions", () => {
    expect(sortRows(rows, { key: "auroc", desc: true }).map((r) => r.class)).toEqual(["C", "B", "D", "A"]);
    expect(sortRows(rows, { key: "auroc", desc: false }).map((r) => r.class)).toEqual(["D", "B", "C", "A"]);
  });
  it("sorts class names alphabetically and leaves the input alone", () => {
    expect(sortRows(rows, { key: "class", desc: false }).map((r) => r.class)).toEqual(["A", "B", "C", "D"]);
    expect(rows.map((r) => r.class)).toEqual(["B", "A", "C", "D"]);
  });
  it("flips the direction on the same column, starts high-first on a new one", () => {
    expect(nextSort({ key: "f1", desc: true }, "f1")).toEqual({ key: "f1", desc: false });
    expect(nextSort({ key: "f1", desc: false }, "auroc")).toEqual({ key: "auroc", desc: true });
    expect(nextSort({ key: "f1", desc: true }, "class")).toEqual({ key: "class", desc: false });
  });
});

describe("heatmap", () => {
  const cm = { labels: ["a", "b", "c"], matrix: [[8, 2, 0], [1, 3, 0], [0, 0, 0]] };
  const h = heatmap(cm);
  it("computes totals, row shares and the diagonal", () => {
    expect(h.rowTotals).toEqual([10, 4, 0]);
    expect(h.colTotals).toEqual([9, 5, 0]);
    expect(h.total).toBe(14);
    expect(h.correct).toBe(11);
    expect(h.maxOff).toBe(2);
    expect(h.maxAll).toBe(8);
    expect(h.cells[0][1]).toMatchObject({ t: 0, p: 1, count: 2, share: 0.2, diagonal: false });
    expect(h.cells[1][1]).toMatchObject({ count: 3, share: 0.75, diagonal: true });
    expect(h.cells[2][2].share).toBe(0); // an empty row does not divide by zero
  });
  it("scales intensity by row share or by count", () => {
    expect(intensity(h.cells[0][0], h, "row")).toBeCloseTo(0.8);
    expect(intensity(h.cells[0][0], h, "count")).toBe(1);
    expect(intensity(h.cells[1][1], h, "count")).toBeCloseTo(3 / 8);
    expect(intensity(h.cells[0][2], h, "row")).toBe(0);
  });
  it("colours correct and wrong cells differently, darker with intensity", () => {
    expect(heatColor(0, true).fill).toBe("transparent");
    const good = heatColor(1, true);
    const bad = heatColor(1, false);
    expect(good.fill).toBe("rgba(95, 191, 143, 0.900)");
    expect(bad.fill).toBe("rgba(224, 121, 95, 0.900)");
    expect(good.ink).toBe("dark");
    expect(heatColor(0.1, false)).toEqual({ fill: "rgba(224, 121, 95, 0.180)", ink: "light" });
    expect(heatColor(7, false).fill).toBe(bad.fill); // clamped
    // Whatever the level, the ink reaches WCAG's 4.5:1 on the fill over the panel.
    for (let i = 1; i <= 100; i++) {
      for (const diagonal of [true, false]) {
        const { fill, ink } = heatColor(i / 100, diagonal);
        const [r, g, b, a] = fill.slice(5, -1).split(",").map(Number);
        const shown = luminance([r, g, b].map((c, k) => a * c + (1 - a) * [23, 26, 29][k]));
        expect(contrast(shown, ink === "light" ? 1 : 0)).toBeGreaterThanOrEqual(4.5);
      }
    }
  });
  it("builds the cell queries", () => {
    expect(multiClassCell(cm.labels, 0, 1, "test")).toEqual({ part: "test", true: "a", pred: "b" });
    expect(multiLabelCell("Edema", 1, 0, "val")).toEqual({ part: "val", class: "Edema", true: "1", pred: "0" });
  });
});

describe("labelCells", () => {
  it("reads [[tn, fp], [fn, tp]] in reading order", () => {
    const cells = labelCells([[40, 3], [5, 7]]);
    expect(cells.map((c) => `${c.name}:${c.truth}${c.pred}:${c.count}:${c.correct}`)).toEqual([
      "TN:00:40:true", "FP:01:3:false", "FN:10:5:false", "TP:11:7:true",
    ]);
    expect(labelCells(null)).toEqual([]);
  });
});

describe("links and curves", () => {
  it("makes a Browse link for a list of pairs, without duplicates", () => {
    expect(browsePairsHash([3, 1, 3, 9])).toBe("#/browse?pairs=3,1,9");
  });
  it("orders curve points by x, keeps thresholds and drops non-finite points", () => {
    const s = curveSeries([[0.5, 0.9, 0.3], [0, 0, null], [0.5, 1, 0.2], [Number.NaN, 1, 0.1], [1, 1, 0]]);
    expect(s.x).toEqual([0, 0.5, 0.5, 1]);
    expect(s.y).toEqual([0, 0.9, 1, 1]);
    expect(s.t).toEqual([null, 0.3, 0.2, 0]);
  });
});
