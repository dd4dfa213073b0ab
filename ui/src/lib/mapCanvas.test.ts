import { describe, expect, it } from "vitest";
import { draw, fit, Grid, inside, lasso, toData, toScreen, zoomAt } from "./mapCanvas";

describe("the map's drawing and picking", () => {
  const xs = new Float32Array([0, 10, 10, 0, 5]);
  const ys = new Float32Array([0, 0, 10, 10, 5]);

  it("fits the points and maps screen and data both ways", () => {
    const v = fit(xs, ys, 140, 140);
    const [sx, sy] = toScreen(v, 10, 10);
    expect(sx).toBeCloseTo(120);
    expect(sy).toBeCloseTo(20, 5);
    const [x, y] = toData(v, sx, sy);
    expect([x, y].map((t) => Math.round(t * 1e6) / 1e6)).toEqual([10, 10]);
    // Zooming keeps the point under the mouse in place.
    const z = zoomAt(v, sx, sy, 3);
    const [zx, zy] = toScreen(z, 10, 10);
    expect(zx).toBeCloseTo(sx);
    expect(zy).toBeCloseTo(sy);
  });

  it("finds the nearest point and the points in a lasso", () => {
    const g = new Grid(xs, ys, 2);
    expect(g.nearest(4.6, 5.3, 1)).toBe(4);
    expect(g.nearest(7.5, 7.5, 1)).toBe(-1);
    expect(inside([[0, 0], [4, 0], [4, 4], [0, 4]], 2, 2)).toBe(true);
    expect(inside([[0, 0], [4, 0], [4, 4], [0, 4]], 5, 2)).toBe(false);
    // A triangle around the lower-left half.
    expect(lasso([[-1, -1], [12, -1], [-1, 12]], xs, ys).sort()).toEqual([0, 1, 3, 4]);
  });

  it("draws each point as a 2×2 square and the selection on top", () => {
    const v = fit(xs, ys, 60, 60);
    const px = new Uint32Array(60 * 60);
    const colours = new Uint32Array([1, 2, 3, 4, 5]);
    draw(px, v, xs, ys, colours, 9, new Uint8Array([0, 0, 0, 0, 1]), 7);
    const [sx, sy] = toScreen(v, 5, 5).map((t) => Math.floor(t));
    expect(px[sy * 60 + sx]).toBe(7);
    expect(px.filter((c) => c !== 9).length).toBe(20);
  });
});
