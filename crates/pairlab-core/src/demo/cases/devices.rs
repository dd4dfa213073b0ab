//! Support-device geometry: tubes and lines as curves, a pacemaker as a rounded box.

#[derive(Clone, Debug)]
pub(super) struct Stroke {
    /// Control points (u, v) of a Catmull-Rom curve.
    pub(super) pts: Vec<(f32, f32)>,
    /// Half width in normalised units.
    pub(super) hw: f32,
    pub(super) strength: f32,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Box2 {
    pub(super) u: f32,
    pub(super) v: f32,
    pub(super) w: f32,
    pub(super) h: f32,
    pub(super) strength: f32,
}

/// Jittered device geometry shared by the device kinds.
pub(super) struct DeviceGeo {
    pub(super) carina: f32,
    /// Left hemidiaphragm height and left lung centre (for the stomach).
    pub(super) base: f32,
    pub(super) tc: f32,
    pub(super) heart_cy: f32,
    pub(super) j: [f32; 8],
}

impl DeviceGeo {
    pub(super) fn add(&self, kind: usize, strokes: &mut Vec<Stroke>, boxes: &mut Vec<Box2>) {
        let j = self.j;
        match kind {
            0 => {
                // Endotracheal tube: faint tube wall with a radiopaque stripe.
                let x = 0.5 + 0.004 * j[1];
                let tip = self.carina - 0.05 - 0.035 * (j[0] + 1.0);
                let pts = vec![(0.5 + 0.012 * j[2], -0.04), (x + 0.003, 0.08), (x, tip)];
                strokes.push(Stroke {
                    pts: pts.clone(),
                    hw: 0.009,
                    strength: 0.08,
                });
                strokes.push(Stroke {
                    pts,
                    hw: 0.0022,
                    strength: 0.5,
                });
            }
            1 => {
                // Enteric tube down the oesophagus into the stomach.
                let pts = vec![
                    (0.505, -0.04),
                    (0.49 + 0.006 * j[3], 0.2),
                    (0.487, 0.45),
                    (0.5 + 0.03, self.base + 0.03),
                    (0.5 + self.tc + 0.012 * j[4], self.base + 0.1),
                    (0.5 + self.tc - 0.04, self.base + 0.15 + 0.02 * j[5]),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.0025,
                    strength: 0.45,
                });
            }
            2 => {
                // Right internal jugular central venous catheter ending in the SVC.
                let pts = vec![
                    (0.38 + 0.012 * j[6], -0.04),
                    (0.425, 0.1),
                    (0.462, 0.2),
                    (0.47, self.carina + 0.06 + 0.03 * j[7]),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.0022,
                    strength: 0.45,
                });
            }
            _ => {
                // Left chest wall pacemaker with a lead into the right ventricle.
                let (gu, gv) = (0.77 + 0.02 * j[0], 0.17 + 0.015 * j[1]);
                boxes.push(Box2 {
                    u: gu,
                    v: gv,
                    w: 0.075,
                    h: 0.052,
                    strength: 0.85,
                });
                let pts = vec![
                    (gu - 0.03, gv + 0.01),
                    (0.62, 0.2),
                    (0.54, 0.25),
                    (0.485, 0.34),
                    (0.475, self.heart_cy - 0.06),
                    (0.52, self.heart_cy + 0.02),
                    (0.575 + 0.01 * j[2], self.heart_cy + 0.045),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.003,
                    strength: 0.5,
                });
            }
        }
    }
}
