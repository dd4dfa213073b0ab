//! Sentences for each finding, positive, uncertain or negated, for the findings and
//! impression sections of a report.

use super::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Say {
    Positive,
    Uncertain,
    Negative,
    Silent,
}

impl Say {
    pub(super) fn label(self) -> Option<i8> {
        match self {
            Say::Positive => Some(1),
            Say::Uncertain => Some(-1),
            Say::Negative => Some(0),
            Say::Silent => None,
        }
    }

    pub(super) fn mentioned_as_present(self) -> bool {
        matches!(self, Say::Positive | Say::Uncertain)
    }
}

const LOBES: &[&str] = &[
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "left upper lobe",
    "left lower lobe",
    "lingula",
    "left mid lung",
    "right mid lung",
];

/// A location used before a noun ("lingular nodule").
fn lobe_adj(loc: &str) -> &str {
    if loc == "lingula" { "lingular" } else { loc }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "4 cm" or "2.5 cm".
fn cm(x: f32) -> String {
    let r = (x * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-4 {
        format!("{} cm", r.round() as i32)
    } else {
        format!("{r:.1} cm")
    }
}

/// A lesion size: "8 mm" below a centimetre, else "1.2 cm".
fn lesion_size(mm: u64) -> String {
    if mm < 10 {
        format!("{mm} mm")
    } else {
        cm(mm as f32 / 10.0)
    }
}

/// Sentences for one finding: (findings section, impression).
pub(super) type Lines = (Vec<String>, Vec<String>);

pub(super) fn cardio_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let sev = rng.pick(&["mild", "moderate", "severe"]);
            f.push(match rng.below(5) {
                0 => format!("{} cardiomegaly.", cap(sev)),
                1 => format!("The heart is {sev}ly enlarged."),
                2 => format!("There is {sev} enlargement of the cardiac silhouette."),
                3 => format!("{} cardiomegaly is present.", cap(sev)),
                _ => format!("The cardiac silhouette is {sev}ly enlarged."),
            });
            imp.push(if rng.chance(0.5) {
                format!("{} cardiomegaly.", cap(sev))
            } else {
                "Cardiomegaly.".to_owned()
            });
        }
        Say::Uncertain => {
            f.push(
                rng.pick(&[
                    "Heart size is borderline enlarged.",
                    "The cardiac silhouette is borderline enlarged.",
                    "Possible mild cardiomegaly.",
                    "The heart may be mildly enlarged.",
                ])
                .to_owned(),
            );
            imp.push(
                rng.pick(&["Borderline cardiomegaly.", "Possible mild cardiomegaly."])
                    .to_owned(),
            );
        }
        Say::Negative => f.push(
            rng.pick(&[
                "Heart size is normal.",
                "The heart size is normal.",
                "Normal heart size.",
                "Heart size is within normal limits.",
                "No cardiomegaly.",
                "There is no cardiomegaly.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

pub(super) fn effusion_lines(say: Say, lungs_clear_ok: bool, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let size = rng.pick(&["small", "small", "moderate", "large", "trace"]);
            if rng.chance(0.25) {
                let size = if size == "trace" {
                    "small to moderate"
                } else {
                    size
                };
                f.push(match rng.below(3) {
                    0 => format!("{} bilateral pleural effusions.", cap(size)),
                    1 => format!("There are {size} bilateral pleural effusions."),
                    _ => format!(
                        "{} bilateral pleural effusions with adjacent basilar atelectasis.",
                        cap(size)
                    ),
                });
                imp.push(if rng.chance(0.5) {
                    format!("{} bilateral pleural effusions.", cap(size))
                } else {
                    "Bilateral pleural effusions.".to_owned()
                });
            } else {
                let side = rng.pick(&["left", "right"]);
                f.push(match rng.below(5) {
                    0 => format!("{} {side} pleural effusion.", cap(size)),
                    1 => format!("There is a {size} {side} pleural effusion."),
                    2 => format!("A {size} {side} pleural effusion is present."),
                    3 => format!(
                        "{} {side} pleural effusion with adjacent basilar atelectasis.",
                        cap(size)
                    ),
                    _ => format!(
                        "{} {side} pleural effusion layering at the base.",
                        cap(size)
                    ),
                });
                imp.push(if rng.chance(0.5) {
                    format!("{} {side} pleural effusion.", cap(size))
                } else {
                    format!("{} pleural effusion.", cap(side))
                });
            }
        }
        Say::Uncertain => {
            let side = rng.pick(&["left", "right"]);
            f.push(match rng.below(4) {
                0 => format!("Possible small {side} pleural effusion."),
                1 => format!("Cannot exclude a small {side} pleural effusion."),
                2 => format!(
                    "Blunting of the {side} costophrenic angle may represent a small effusion."
                ),
                _ => format!("Trace {side} pleural effusion is possible."),
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible small {side} pleural effusion.")
            } else {
                format!("Cannot exclude a small {side} pleural effusion.")
            });
        }
        Say::Negative => {
            let n = if lungs_clear_ok { 6 } else { 5 };
            f.push(
                match rng.below(n) {
                    0 => "No pleural effusion.",
                    1 => "There is no pleural effusion.",
                    2 => "No pleural effusion is seen.",
                    3 => "Negative for pleural effusion.",
                    4 => "No pleural effusions.",
                    _ => "The lungs are clear without effusion.",
                }
                .to_owned(),
            );
        }
        Say::Silent => {}
    }
    (f, imp)
}

pub(super) fn ptx_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let side = rng.pick(&["left", "right"]);
            let k = rng.below(3);
            let size = ["small", "moderate", "large"][k as usize];
            let depth = match k {
                0 => rng.range(0.8, 1.9),
                1 => rng.range(2.0, 3.5),
                _ => rng.range(3.6, 6.0),
            };
            f.push(match rng.below(4) {
                0 => format!("{} {side} apical pneumothorax.", cap(size)),
                1 => format!(
                    "There is a {size} {side} apical pneumothorax measuring {}.",
                    cm(depth)
                ),
                2 => format!("{} apical pneumothorax measuring {}.", cap(side), cm(depth)),
                _ => format!("A {size} {side} pneumothorax is present, predominantly apical."),
            });
            imp.push(if rng.chance(0.5) {
                format!("{} {side} pneumothorax.", cap(size))
            } else {
                format!("{} apical pneumothorax.", cap(side))
            });
            if rng.chance(0.4) {
                imp.push("Findings were communicated to the referring clinician.".to_owned());
            }
        }
        Say::Uncertain => {
            let side = rng.pick(&["left", "right"]);
            f.push(match rng.below(3) {
                0 => format!("Cannot exclude a small {side} apical pneumothorax."),
                1 => format!("Possible small {side} apical pneumothorax."),
                _ => {
                    format!("Subtle lucency at the {side} apex may represent a small pneumothorax.")
                }
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible small {side} apical pneumothorax.")
            } else {
                format!("Cannot exclude a small {side} pneumothorax.")
            });
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No pneumothorax.",
                "There is no pneumothorax.",
                "No evidence of pneumothorax.",
                "Negative for pneumothorax.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

pub(super) fn lesion_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    let follow_up = "Follow-up chest CT is recommended.";
    match say {
        Say::Positive => {
            let loc = rng.pick(LOBES);
            let mm = if rng.chance(0.85) {
                5 + rng.below(21)
            } else {
                30 + rng.below(26)
            };
            let size = lesion_size(mm);
            if mm >= 30 {
                f.push(match rng.below(3) {
                    0 => format!("{size} mass in the {loc}."),
                    1 => format!("There is a {size} mass in the {loc}."),
                    _ => format!("A {size} spiculated mass is present in the {loc}."),
                });
                imp.push(format!("{size} {} mass.", lobe_adj(loc)));
            } else {
                f.push(match rng.below(5) {
                    0 => format!("{size} nodule in the {loc}."),
                    1 => format!("There is a {size} nodule in the {loc}."),
                    2 => format!("A {size} spiculated nodule is seen in the {loc}."),
                    3 => format!("{size} well-circumscribed nodule projects over the {loc}."),
                    _ => format!("A {size} pulmonary nodule is present in the {loc}."),
                });
                imp.push(format!("{size} {} nodule.", lobe_adj(loc)));
            }
            if rng.chance(0.6) {
                imp.push(follow_up.to_owned());
            }
        }
        Say::Uncertain => {
            let loc = rng.pick(LOBES);
            let size = lesion_size(5 + rng.below(12));
            f.push(match rng.below(4) {
                0 => format!("Opacity in the {loc} suspicious for a nodule."),
                1 => format!("Possible {size} nodule in the {loc}."),
                2 => format!("A rounded opacity in the {loc} may represent a nodule."),
                _ => format!("Cannot exclude a small nodule in the {loc}."),
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible {} nodule.", lobe_adj(loc))
            } else {
                format!("Opacity in the {loc} suspicious for a nodule.")
            });
            if rng.chance(0.6) {
                imp.push(follow_up.to_owned());
            }
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No focal nodule.",
                "No pulmonary nodule or mass is identified.",
                "There is no focal nodule or mass.",
                "No discrete nodule.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

pub(super) fn device_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive | Say::Uncertain => {
            let first = rng.below(5);
            let kinds = if rng.chance(0.35) {
                vec![first, (first + 1 + rng.below(4)) % 5]
            } else {
                vec![first]
            };
            for kind in kinds {
                let (sentence, summary) = match kind {
                    0 => {
                        let d = cm(2.0 + 0.5 * rng.below(10) as f32);
                        let s = match rng.below(3) {
                            0 => format!("Endotracheal tube terminates {d} above the carina."),
                            1 => format!("The endotracheal tube tip is {d} above the carina."),
                            _ => format!(
                                "Endotracheal tube in standard position, {d} above the carina."
                            ),
                        };
                        (s, "Endotracheal tube in satisfactory position.")
                    }
                    1 => (
                        rng.pick(&[
                            "An enteric tube courses below the diaphragm with the tip in the stomach.",
                            "Nasogastric tube tip projects over the stomach.",
                            "Enteric tube tip and side port are within the stomach.",
                        ])
                        .to_owned(),
                        "Enteric tube in the stomach.",
                    ),
                    2 => (
                        rng.pick(&[
                            "Right internal jugular central venous catheter terminates in the lower SVC.",
                            "Right IJ catheter tip projects over the cavoatrial junction.",
                            "Right internal jugular line tip is in the mid SVC.",
                        ])
                        .to_owned(),
                        "Central venous catheter in satisfactory position.",
                    ),
                    3 => (
                        rng.pick(&[
                            "Left PICC terminates in the lower SVC.",
                            "A right arm PICC line ends at the cavoatrial junction.",
                        ])
                        .to_owned(),
                        "PICC line in satisfactory position.",
                    ),
                    _ => (
                        rng.pick(&[
                            "Left chest wall pacemaker with lead terminating in the right ventricle.",
                            "A dual-chamber pacemaker is present with leads in the right atrium and right ventricle.",
                            "Left-sided pacemaker generator with intact leads.",
                        ])
                        .to_owned(),
                        "Pacemaker in place.",
                    ),
                };
                f.push(sentence);
                if rng.chance(0.6) {
                    imp.push(summary.to_owned());
                }
            }
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No lines or tubes are seen.",
                "No support devices are present.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}
