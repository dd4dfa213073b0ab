//! Small numeric and drawing helpers: soft edges, noise, curves and anti-aliased stamps.

use super::anatomy::GRID;

/// One pixel's size in anatomical units, and reciprocals of edge widths built on it.
pub(super) struct Px {
    pub(super) aa: f32,
    pub(super) k1: f32,
    pub(super) k15: f32,
    pub(super) k2: f32,
    pub(super) k3: f32,
}

impl Px {
    pub(super) fn new(aa: f32) -> Px {
        Px {
            aa,
            k1: 1.0 / aa,
            k15: 1.0 / (1.5 * aa),
            k2: 1.0 / (2.0 * aa),
            k3: 1.0 / (3.0 * aa),
        }
    }
}

#[inline(always)]
pub(super) fn smooth01(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Soft step: 0 well below zero, 1 well above, rising over a width `w` centred on 0.
#[inline(always)]
pub(super) fn edge(x: f32, w: f32) -> f32 {
    smooth01(0.5 + x * (1.0 / w))
}

/// `edge` with the reciprocal width given.
#[inline(always)]
pub(super) fn edge_k(x: f32, k: f32) -> f32 {
    smooth01(0.5 + x * k)
}

/// Smooth plateau on [a, b] with soft sides of width w.
#[inline(always)]
pub(super) fn band(f: f32, a: f32, b: f32, w: f32) -> f32 {
    edge(f - a, w) * edge(b - f, w)
}

/// (1 - x²)² on |x| < 1.
#[inline(always)]
pub(super) fn bump(x: f32) -> f32 {
    bump_sq(x * x)
}

/// `bump` of a squared argument.
#[inline(always)]
pub(super) fn bump_sq(x2: f32) -> f32 {
    let s = (1.0 - x2).max(0.0);
    s * s
}

/// Floor for the moderate values used here (|x| < 2^20), without a libm call.
#[inline(always)]
fn floor_i(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x { i - 1 } else { i }
}

/// x - floor(x), in [0, 1).
#[inline(always)]
pub(super) fn fract(x: f32) -> f32 {
    x - floor_i(x) as f32
}

/// Smooth value noise on a GRID×GRID grid, wrapping in both directions.
#[inline(always)]
pub(super) fn value_noise(grid: &[f32], a: f32, b: f32) -> f32 {
    let (ai, bi) = (floor_i(a), floor_i(b));
    let (fa, fb) = (a - ai as f32, b - bi as f32);
    let g = GRID as i32;
    let i0 = ai.rem_euclid(g) as usize;
    let j0 = bi.rem_euclid(g) as usize;
    let (i1, j1) = ((i0 + 1) % GRID, (j0 + 1) % GRID);
    let sa = fa * fa * (3.0 - 2.0 * fa);
    let sb = fb * fb * (3.0 - 2.0 * fb);
    let at = |i: usize, j: usize| grid[j * GRID + i];
    let top = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * sa;
    let bot = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * sa;
    top + (bot - top) * sb
}

/// Distance from (px, py) to the segment (ax, ay)-(bx, by).
#[inline(always)]
pub(super) fn seg_dist(px: f32, py: f32, ax: f32, ay: f32, bx: f32, by: f32) -> f32 {
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let s = if len2 > 0.0 {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (px - ax - s * dx, py - ay - s * dy);
    (ex * ex + ey * ey).sqrt()
}

/// Samples a Catmull-Rom curve through `pts`, `steps` points per span.
pub(super) fn catmull_rom(pts: &[(f32, f32)], steps: usize) -> Vec<(f32, f32)> {
    if pts.len() < 2 {
        return pts.to_vec();
    }
    let at = |i: isize| pts[i.clamp(0, pts.len() as isize - 1) as usize];
    let mut out = Vec::with_capacity(pts.len() * steps + 1);
    for i in 0..pts.len() as isize - 1 {
        let (p0, p1, p2, p3) = (at(i - 1), at(i), at(i + 1), at(i + 2));
        for k in 0..steps {
            let t = k as f32 / steps as f32;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (c - a) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (3.0 * b - a - 3.0 * c + d) * t3)
            };
            out.push((f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    out.push(pts[pts.len() - 1]);
    out
}

/// Pixel indices covering [lo, hi] (pixel units), clipped to 0..n.
pub(super) fn pixel_span(lo: f32, hi: f32, n: usize) -> (usize, usize) {
    let a = lo.floor().max(0.0) as usize;
    let b = (hi.ceil() + 1.0).clamp(0.0, n as f32) as usize;
    (a.min(n), b)
}

/// Max-blends an anti-aliased capsule of half width `hw` (pixels) from a to b.
pub(super) fn stamp_segment(
    buf: &mut [f32],
    n: usize,
    a: (f32, f32),
    b: (f32, f32),
    hw: f32,
    strength: f32,
) {
    let r = hw + 1.0;
    let (xa, xb) = pixel_span(a.0.min(b.0) - r, a.0.max(b.0) + r, n);
    let (ya, yb) = pixel_span(a.1.min(b.1) - r, a.1.max(b.1) + r, n);
    for y in ya..yb {
        for x in xa..xb {
            let dist = seg_dist(x as f32, y as f32, a.0, a.1, b.0, b.1);
            let cov = (hw + 0.5 - dist).clamp(0.0, 1.0);
            if cov > 0.0 {
                let cell = &mut buf[y * n + x];
                *cell = cell.max(cov * strength);
            }
        }
    }
}

/// Max-blends a soft tapering line from a to b: radius (pixels) and density go from
/// the first to the second value of `r` and `strength`; profile (1 - (d/r)²)².
pub(super) fn stamp_soft(
    buf: &mut [f32],
    n: usize,
    a: (f32, f32),
    b: (f32, f32),
    r: (f32, f32),
    strength: (f32, f32),
) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let inv_len2 = if len2 > 1e-9 { 1.0 / len2 } else { 0.0 };
    let rmax = r.0.max(r.1);
    // Half the x-extent, on one row, of the band within rmax of the segment's line.
    let slope = if dy.abs() > 1e-3 { dx / dy } else { 0.0 };
    let half_run = if dy.abs() > 1e-3 {
        rmax * len2.sqrt() / dy.abs()
    } else {
        f32::INFINITY
    };
    let (x_lo, x_hi) = (a.0.min(b.0) - rmax, a.0.max(b.0) + rmax);
    let (ya, yb) = pixel_span(a.1.min(b.1) - rmax, a.1.max(b.1) + rmax, n);
    for y in ya..yb {
        let py = y as f32 - a.1;
        let c = a.0 + py * slope;
        let (xa, xb) = pixel_span(x_lo.max(c - half_run), x_hi.min(c + half_run), n);
        for x in xa..xb {
            let qx = x as f32 - a.0;
            let s = ((qx * dx + py * dy) * inv_len2).clamp(0.0, 1.0);
            let (ex, ey) = (qx - s * dx, py - s * dy);
            let rad = r.0 + (r.1 - r.0) * s;
            let d2 = (ex * ex + ey * ey) / (rad * rad);
            if d2 < 1.0 {
                let k = 1.0 - d2;
                let val = (strength.0 + (strength.1 - strength.0) * s) * k * k;
                let cell = &mut buf[y * n + x];
                *cell = cell.max(val);
            }
        }
    }
}
