// Axis tick labels with as many decimals as the tick step needs (0.25 steps → "0.25", not "0.3").

/** Decimals needed to tell ticks `step` apart (at most `max`). */
export function stepDecimals(step: number, max = 4): number {
  if (!Number.isFinite(step) || step <= 0) return 0;
  for (let d = 0; d <= max; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return max;
}

/** Formats ticks with the decimals of their step; `scale` multiplies first (100 for %). */
export function formatTicks(ticks: number[], scale = 1, suffix = ""): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) * scale : 1;
  const d = stepDecimals(step);
  return ticks.map((v) => `${(v * scale).toFixed(d)}${suffix}`);
}
