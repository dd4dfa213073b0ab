// The embedding map's drawing and picking, kept free of the DOM so that it can be tested:
// the view transform (data → screen), drawing every point into an RGBA pixel buffer (one
// pass, no per-point canvas calls: 100,000 points stay smooth), a grid index for the point
// under the mouse, and the points inside a lasso.

export interface View {
  /** Screen x = (x - cx) * scale + width / 2; y likewise (screen y grows downwards). */
  cx: number;
  cy: number;
  scale: number;
  width: number;
  height: number;
}

/** A view that fits every point with a margin. */
export function fit(xs: Float32Array, ys: Float32Array, width: number, height: number): View {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < xs.length; i++) {
    x0 = Math.min(x0, xs[i]);
    x1 = Math.max(x1, xs[i]);
    y0 = Math.min(y0, ys[i]);
    y1 = Math.max(y1, ys[i]);
  }
  if (!Number.isFinite(x0)) return { cx: 0, cy: 0, scale: 1, width, height };
  const span = Math.max((x1 - x0) / Math.max(1, width - 40), (y1 - y0) / Math.max(1, height - 40), 1e-9);
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale: 1 / span, width, height };
}

export function toScreen(v: View, x: number, y: number): [number, number] {
  return [(x - v.cx) * v.scale + v.width / 2, (v.cy - y) * v.scale + v.height / 2];
}

export function toData(v: View, sx: number, sy: number): [number, number] {
  return [(sx - v.width / 2) / v.scale + v.cx, v.cy - (sy - v.height / 2) / v.scale];
}

/** Zooms by `factor` keeping the data point under (sx, sy) in place. */
export function zoomAt(v: View, sx: number, sy: number, factor: number): View {
  const [x, y] = toData(v, sx, sy);
  const scale = Math.min(1e7, Math.max(1e-7, v.scale * factor));
  return { ...v, scale, cx: x - (sx - v.width / 2) / scale, cy: y + (sy - v.height / 2) / scale };
}

/**
 * Draws the points as 2×2 squares into `pixels` (RGBA as one uint32 per pixel, little
 * endian: 0xAABBGGRR), colour `colours[i]`; selected points last, in `highlight`.
 */
export function draw(
  pixels: Uint32Array,
  v: View,
  xs: Float32Array,
  ys: Float32Array,
  colours: Uint32Array,
  background: number,
  selected?: Uint8Array,
  highlight = 0xff00d0ff,
): void {
  pixels.fill(background);
  const { width: w, height: h } = v;
  const ox = w / 2 - v.cx * v.scale;
  const oy = h / 2 + v.cy * v.scale;
  for (let pass = 0; pass < (selected ? 2 : 1); pass++) {
    for (let i = 0; i < xs.length; i++) {
      if (pass === 1 && !selected?.[i]) continue;
      const px = (xs[i] * v.scale + ox) | 0;
      const py = (oy - ys[i] * v.scale) | 0;
      if (px < 0 || py < 0 || px >= w - 1 || py >= h - 1) continue;
      const c = pass === 1 ? highlight : colours[i];
      const at = py * w + px;
      pixels[at] = c;
      pixels[at + 1] = c;
      pixels[at + w] = c;
      pixels[at + w + 1] = c;
    }
  }
}

/** Buckets of point indices on a grid over the data, for finding the point under the mouse. */
export class Grid {
  private cells = new Map<number, number[]>();
  constructor(
    private xs: Float32Array,
    private ys: Float32Array,
    private cell: number,
  ) {
    for (let i = 0; i < xs.length; i++) {
      const k = this.key(Math.floor(xs[i] / cell), Math.floor(ys[i] / cell));
      let b = this.cells.get(k);
      if (!b) this.cells.set(k, (b = []));
      b.push(i);
    }
  }
  private key(gx: number, gy: number): number {
    return (gx + 32768) * 65536 + (gy + 32768);
  }
  /** The nearest point to (x, y) within `radius` (data units), or -1. */
  nearest(x: number, y: number, radius: number): number {
    let best = -1;
    let bestD = radius * radius;
    const r = Math.ceil(radius / this.cell);
    const [gx, gy] = [Math.floor(x / this.cell), Math.floor(y / this.cell)];
    for (let dx = -r; dx <= r; dx++) {
      for (let dy = -r; dy <= r; dy++) {
        for (const i of this.cells.get(this.key(gx + dx, gy + dy)) ?? []) {
          const d = (this.xs[i] - x) ** 2 + (this.ys[i] - y) ** 2;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

/** Whether (x, y) is inside the polygon (even–odd rule). */
export function inside(poly: [number, number][], x: number, y: number): boolean {
  let odd = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
  }
  return odd;
}

/** The indices of the points inside a lasso drawn in data coordinates. */
export function lasso(poly: [number, number][], xs: Float32Array, ys: Float32Array): number[] {
  if (poly.length < 3) return [];
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of poly) {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  const out: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < x0 || xs[i] > x1 || ys[i] < y0 || ys[i] > y1) continue;
    if (inside(poly, xs[i], ys[i])) out.push(i);
  }
  return out;
}

/** A categorical palette (RGBA little endian), distinguishable on the dark background. */
export const PALETTE = [0xfff0a35b, 0xff5bc8f0, 0xff6fd38a, 0xffe07bd0, 0xff4fb3f7, 0xff7a86f5, 0xffa0e0e0, 0xffb0b0ff];
export const NONE = 0xff5a5550;

/** A score in [0, 1] as a colour from dark blue (low) to yellow (high). */
export function scoreColour(t: number): number {
  const u = Math.min(1, Math.max(0, t));
  const r = Math.round(40 + 215 * u);
  const g = Math.round(60 + 160 * u);
  const b = Math.round(160 - 120 * u);
  return (0xff << 24) | (b << 16) | (g << 8) | r;
}
