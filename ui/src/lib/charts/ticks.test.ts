import { describe, expect, it } from "vitest";
import { formatTicks, stepDecimals } from "./ticks";

describe("ticks", () => {
  it("uses the decimals of the step", () => {
    expect(stepDecimals(1)).toBe(0);
    expect(stepDecimals(0.2)).toBe(1);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(0.025)).toBe(3);
    expect(stepDecimals(0.1 + 0.2)).toBe(1); // float noise
    expect(stepDecimals(1 / 3)).toBe(4);
  });
  it("formats ticks, also as percentages", () => {
    expect(formatTicks([0, 0.25, 0.5, 0.75, 1])).toEqual(["0.00", "0.25", "0.50", "0.75", "1.00"]);
    expect(formatTicks([0.7, 0.725, 0.75], 100, "%")).toEqual(["70.0%", "72.5%", "75.0%"]);
    expect(formatTicks([0.45, 0.5, 0.55])).toEqual(["0.45", "0.50", "0.55"]);
    expect(formatTicks([2])).toEqual(["2"]);
  });
});
