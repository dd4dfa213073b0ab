// Chart colours and axes from the design tokens (canvas cannot read CSS variables itself).
import type uPlot from "uplot";

export function cssVar(name: string, fallback: string): string {
  if (typeof document === "undefined") return fallback;
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export interface ChartTheme {
  text: string;
  faint: string;
  grid: string;
  accent: string;
  warm: string;
  good: string;
  violet: string;
  font: string;
}

export function chartTheme(): ChartTheme {
  const ui = cssVar("--font-ui", "system-ui, sans-serif");
  return {
    text: cssVar("--text-dim", "#9aa3ad"),
    faint: cssVar("--text-faint", "#6b737c"),
    grid: cssVar("--border", "#2a2e33"),
    accent: cssVar("--accent", "#5aa7ff"),
    warm: cssVar("--unc", "#d9b25a"),
    good: cssVar("--ok", "#5fbf8f"),
    violet: cssVar("--machine", "#a58cf0"),
    font: `11px ${ui}`,
  };
}

/** An axis in the app's colours. */
export function axis(t: ChartTheme, extra: uPlot.Axis = {}): uPlot.Axis {
  return {
    stroke: t.text,
    font: t.font,
    labelFont: t.font,
    grid: { stroke: t.grid, width: 1 },
    ticks: { stroke: t.grid, width: 1, size: 4 },
    gap: 4,
    size: 36,
    ...extra,
  };
}
