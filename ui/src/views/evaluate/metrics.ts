// Pure helpers of the Evaluate view: number and interval formatting, the per-class table's
// sort order, and the cells of confusion matrices (multi-class heatmap, multi-label 2×2s).
import type { CellArgs } from "../../bindings/CellArgs";
import type { Ci } from "../../bindings/Ci";
import type { ClassEval } from "../../bindings/ClassEval";
import type { ConfusionMatrix } from "../../bindings/ConfusionMatrix";

/** A statistic in [0, 1] with fixed decimals; "–" for a missing or non-finite value. */
export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

/** A share as a percentage: 0.8123 → "81.2%". */
export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(digits)}%`;
}

/** A point estimate with its interval, "0.812 [0.741–0.880]", split so the bounds can be dimmed. */
export function formatCi(ci: Ci | null, digits = 3): { value: string; interval: string } {
  if (!ci || !Number.isFinite(ci.value)) return { value: "–", interval: "" };
  const lo = Number.isFinite(ci.low) ? ci.low.toFixed(digits) : "?";
  const hi = Number.isFinite(ci.high) ? ci.high.toFixed(digits) : "?";
  return { value: ci.value.toFixed(digits), interval: `[${lo}–${hi}]` };
}

export type SortKey = "class" | "precision" | "recall" | "f1" | "support" | "auroc" | "auprc" | "threshold" | "ece";
export interface SortState {
  key: SortKey;
  desc: boolean;
}

function sortValue(row: ClassEval, key: SortKey): number | string | null {
  switch (key) {
    case "class":
      return row.class;
    case "auroc":
    case "auprc":
      return row[key]?.value ?? null;
    case "threshold":
      return row.threshold;
    default:
      return row[key];
  }
}

/**
 * The rows in the table's order: by `key`, ties by the schema's order; missing values (a class
 * without an AUROC, say) always last whatever the direction. Does not modify `rows`.
 */
export function sortRows(rows: ClassEval[], s: SortState): ClassEval[] {
  const indexed = rows.map((row, i) => ({ row, i, v: sortValue(row, s.key) }));
  indexed.sort((a, b) => {
    const an = a.v === null || (typeof a.v === "number" && !Number.isFinite(a.v));
    const bn = b.v === null || (typeof b.v === "number" && !Number.isFinite(b.v));
    if (an || bn) return an === bn ? a.i - b.i : an ? 1 : -1;
    let c = typeof a.v === "string" ? a.v.localeCompare(b.v as string) : (a.v as number) - (b.v as number);
    if (s.desc) c = -c;
    return c !== 0 ? c : a.i - b.i;
  });
  return indexed.map((x) => x.row);
}

/** A click on a column header: same column flips the direction; a new one starts high-first (names A–Z). */
export function nextSort(cur: SortState, key: SortKey): SortState {
  if (cur.key === key) return { key, desc: !cur.desc };
  return { key, desc: key !== "class" };
}

/** One cell of a multi-class confusion matrix. */
export interface HeatCell {
  t: number;
  p: number;
  count: number;
  /** count / the true class's row total (the row's recall-like share); 0 for an empty row. */
  share: number;
  diagonal: boolean;
}

export interface Heatmap {
  labels: string[];
  cells: HeatCell[][];
  rowTotals: number[];
  colTotals: number[];
  total: number;
  correct: number;
  /** The largest count off the diagonal (the scale of "all" mode). */
  maxOff: number;
  maxAll: number;
}

export function heatmap(cm: ConfusionMatrix): Heatmap {
  const n = cm.labels.length;
  const rowTotals = cm.labels.map((_, t) => (cm.matrix[t] ?? []).reduce((a, b) => a + (b ?? 0), 0));
  const colTotals = cm.labels.map((_, p) => cm.labels.reduce((a, _l, t) => a + (cm.matrix[t]?.[p] ?? 0), 0));
  let total = 0;
  let correct = 0;
  let maxOff = 0;
  let maxAll = 0;
  const cells: HeatCell[][] = [];
  for (let t = 0; t < n; t++) {
    const row: HeatCell[] = [];
    for (let p = 0; p < n; p++) {
      const count = cm.matrix[t]?.[p] ?? 0;
      total += count;
      if (t === p) correct += count;
      else maxOff = Math.max(maxOff, count);
      maxAll = Math.max(maxAll, count);
      row.push({ t, p, count, share: rowTotals[t] > 0 ? count / rowTotals[t] : 0, diagonal: t === p });
    }
    cells.push(row);
  }
  return { labels: cm.labels, cells, rowTotals, colTotals, total, correct, maxOff, maxAll };
}

export type HeatMode = "row" | "count";

/** How strongly a cell is coloured, in [0, 1]: its row share, or its count against the largest. */
export function intensity(cell: HeatCell, h: Heatmap, mode: HeatMode): number {
  if (cell.count === 0) return 0;
  if (mode === "row") return cell.share;
  return h.maxAll > 0 ? cell.count / h.maxAll : 0;
}

const CORRECT_RGB = [95, 191, 143];
const WRONG_RGB = [224, 121, 95];

/** The panel the cells sit on (--bg-raised). */
const PANEL_RGB = [23, 26, 29];

/** WCAG relative luminance of an sRGB colour (0–255 channels). */
export function luminance(rgb: number[]): number {
  const [r, g, b] = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two luminances. */
export function contrast(a: number, b: number): number {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/**
 * A cell's fill: correct (diagonal) cells in green, errors in warm red; alpha grows with the
 * intensity from a visible floor, empty cells are transparent. `ink` is the text colour
 * (white or black) with the higher contrast on the fill as it shows over the panel: one of
 * the two always reaches 4.5:1.
 */
export function heatColor(level: number, diagonal: boolean): { fill: string; ink: "light" | "dark" } {
  const x = Math.min(1, Math.max(0, Number.isFinite(level) ? level : 0));
  if (x === 0) return { fill: "transparent", ink: "light" };
  const a = 0.1 + 0.8 * x;
  const [r, g, b] = diagonal ? CORRECT_RGB : WRONG_RGB;
  const shown = luminance([r, g, b].map((c, i) => a * c + (1 - a) * PANEL_RGB[i]));
  const ink = contrast(shown, 1) >= contrast(shown, 0) ? "light" : "dark";
  return { fill: `rgba(${r}, ${g}, ${b}, ${a.toFixed(3)})`, ink };
}

/** The query of a multi-class cell: true class `labels[t]` predicted as `labels[p]`. */
export function multiClassCell(labels: string[], t: number, p: number, part: string): CellArgs {
  return { part, true: labels[t], pred: labels[p] };
}

/** The four cells of a multi-label class's `[[tn, fp], [fn, tp]]`, in reading order. */
export interface LabelCell {
  truth: 0 | 1;
  pred: 0 | 1;
  name: "TN" | "FP" | "FN" | "TP";
  count: number;
  correct: boolean;
}

export function labelCells(confusion: [[number, number], [number, number]] | null): LabelCell[] {
  if (!confusion) return [];
  const names = [["TN", "FP"], ["FN", "TP"]] as const;
  const out: LabelCell[] = [];
  for (const t of [0, 1] as const) {
    for (const p of [0, 1] as const) {
      out.push({ truth: t, pred: p, name: names[t][p], count: confusion[t][p] ?? 0, correct: t === p });
    }
  }
  return out;
}

/** The query of a multi-label cell: class `cls`, truth and prediction as "1"/"0". */
export function multiLabelCell(cls: string, truth: 0 | 1, pred: 0 | 1, part: string): CellArgs {
  return { part, class: cls, true: String(truth), pred: String(pred) };
}

/** The Browse view's hash for an explicit list of pairs. */
export function browsePairsHash(ids: number[]): string {
  const uniq = [...new Set(ids)];
  return `#/browse?pairs=${uniq.join(",")}`;
}

/** A curve's points ready for a chart: x ascending (stable), thresholds kept, NaNs dropped. */
export function curveSeries(points: Array<[number, number, number | null]>): { x: number[]; y: number[]; t: (number | null)[] } {
  const pts = points
    .map((p, i) => ({ x: p[0], y: p[1], t: p[2] ?? null, i }))
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  pts.sort((a, b) => a.x - b.x || a.i - b.i);
  return { x: pts.map((p) => p.x), y: pts.map((p) => p.y), t: pts.map((p) => p.t) };
}
