//! Free-text reports: which findings a report states and how, assembled into sections.

use super::sentences::{Say, cardio_lines, device_lines, effusion_lines, lesion_lines, ptx_lines};
use super::{CARDIO, Case, DEVICES, EFFUSION, LESION, PTX, Rng};

/// A report for the case: text with "FINDINGS:" and "IMPRESSION:" sections (each on its
/// own line, section text after it), plus what the report says per finding (1 positive,
/// 0 negative, -1 uncertain, None not mentioned) and the CheXpert "No Finding" label.
pub struct Report {
    pub text: String,
    pub stated: [Option<i8>; 5],
    pub no_finding: Option<i8>,
}

/// How often an absent finding is explicitly negated (else it goes unmentioned).
const NEGATE_P: [f64; 5] = [0.7, 0.7, 0.65, 0.35, 0.06];

pub(super) const INDICATIONS: &[&str] = &[
    "Shortness of breath.",
    "Cough.",
    "Chest pain.",
    "Fever.",
    "Pre-operative assessment.",
    "Follow-up.",
    "Dyspnea on exertion.",
];

/// Filler about the lungs and mediastinum; mentions none of the five findings.
pub(super) const FILLER_CHEST: &[&str] = &[
    "The mediastinal contours are unremarkable.",
    "Hilar contours are within normal limits.",
    "No focal consolidation.",
    "There is no pulmonary edema.",
    "Pulmonary vascularity is normal.",
    "The lungs are well expanded.",
    "Lung volumes are normal.",
];

/// Filler about bones and soft tissues; mentions none of the five findings.
pub(super) const FILLER_OTHER: &[&str] = &[
    "Osseous structures are intact.",
    "No acute osseous abnormality.",
    "Mild degenerative changes of the thoracic spine.",
    "The visualized upper abdomen is unremarkable.",
    "Soft tissues are unremarkable.",
];

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let k = rng.below(i as u64 + 1) as usize;
        items.swap(i, k);
    }
}

/// A report for the case (see [`Report`]). Present findings are stated positively, or
/// for about one in five non-device findings uncertainly; absent ones are negated or
/// left unmentioned. Every sentence carries one polarity for the findings it mentions,
/// using only the negation cues "no", "without", "negative for", "normal" (heart size)
/// and the uncertainty cues "possible", "may", "cannot exclude", "suspicious for",
/// "borderline", so a CheXpert-style labeler reads back `stated`.
pub fn write_report(case: &Case, rng: &mut Rng) -> Report {
    let say = choose_says(case, rng);
    let stated = say.map(Say::label);
    let any_pathology = say[..DEVICES].iter().any(|s| s.mentioned_as_present());
    let no_finding = (!any_pathology).then_some(1);
    let lungs_clear_ok = !say[LESION].mentioned_as_present() && !say[PTX].mentioned_as_present();

    let (cardio_f, cardio_i) = cardio_lines(say[CARDIO], rng);
    let (mut eff_f, eff_i) = effusion_lines(say[EFFUSION], lungs_clear_ok, rng);
    let (mut ptx_f, ptx_i) = ptx_lines(say[PTX], rng);
    let (lesion_f, lesion_i) = lesion_lines(say[LESION], rng);
    let (dev_f, dev_i) = device_lines(say[DEVICES], rng);

    if let Some(combined) = combined_negation(&say, lungs_clear_ok, rng) {
        eff_f = vec![combined.to_owned()];
        ptx_f.clear();
    }

    let core: Vec<String> = [cardio_f, eff_f, ptx_f, lesion_f].concat();
    let findings = findings_section(core, &dev_f, rng);
    // Impression: most urgent first; or a normal statement.
    let urgent_first: Vec<String> = [ptx_i, eff_i, cardio_i, lesion_i].concat();
    let impression_text = impression_section(urgent_first, dev_i, &say, any_pathology, rng);

    let mut text = header(case, rng);
    text.push_str(&format!("FINDINGS: {}\n", findings.join(" ")));
    text.push_str(&format!("IMPRESSION: {impression_text}\n"));

    Report {
        text,
        stated,
        no_finding,
    }
}

/// How the report treats each finding: present ones positive (or, for about one in five
/// non-device findings, uncertain), absent ones negated or left unmentioned.
fn choose_says(case: &Case, rng: &mut Rng) -> [Say; 5] {
    std::array::from_fn(|i| {
        if case.present[i] {
            if i != DEVICES && rng.chance(0.2) {
                Say::Uncertain
            } else {
                Say::Positive
            }
        } else if rng.chance(NEGATE_P[i]) {
            Say::Negative
        } else {
            Say::Silent
        }
    })
}

/// For half the reports that negate both effusion and pneumothorax, one sentence that
/// negates the two together.
fn combined_negation(say: &[Say; 5], lungs_clear_ok: bool, rng: &mut Rng) -> Option<&'static str> {
    // Effusion and pneumothorax both negated: often one combined sentence.
    if say[EFFUSION] == Say::Negative && say[PTX] == Say::Negative && rng.chance(0.5) {
        let n = if lungs_clear_ok { 5 } else { 4 };
        Some(match rng.below(n) {
            0 => "No pleural effusion or pneumothorax.",
            1 => "There is no pleural effusion or pneumothorax.",
            2 => "No pneumothorax or pleural effusion.",
            3 => "No focal consolidation, pleural effusion, or pneumothorax.",
            _ => "The lungs are clear without effusion or pneumothorax.",
        })
    } else {
        None
    }
}

/// The findings section's sentences: the findings' lines (`core`) with one to three chest
/// fillers in shuffled order, the device lines mostly before them, often a closing filler.
fn findings_section(mut core: Vec<String>, devices: &[String], rng: &mut Rng) -> Vec<String> {
    let mut chest: Vec<&str> = FILLER_CHEST.to_vec();
    shuffle(&mut chest, rng);
    let n_fill = 1 + rng.below(3) as usize;
    core.extend(chest.iter().take(n_fill).map(|s| (*s).to_owned()));
    shuffle(&mut core, rng);

    let mut findings: Vec<String> = Vec::new();
    let devices_first = rng.chance(0.7);
    if devices_first {
        findings.extend(devices.iter().cloned());
    }
    findings.extend(core);
    if !devices_first {
        findings.extend(devices.iter().cloned());
    }
    if rng.chance(0.6) {
        findings.push(rng.pick(FILLER_OTHER).to_owned());
    }
    findings
}

/// The impression section's text: the findings' lines (most urgent first) or a normal
/// statement, the device lines before or after them, sometimes numbered.
fn impression_section(
    urgent_first: Vec<String>,
    devices: Vec<String>,
    say: &[Say; 5],
    any_pathology: bool,
    rng: &mut Rng,
) -> String {
    let mut impression = urgent_first;
    if !any_pathology {
        impression.insert(0, "No acute cardiopulmonary process.".to_owned());
    }
    if rng.chance(0.5) {
        impression.extend(devices);
    } else {
        let mut with_dev = devices;
        with_dev.extend(impression);
        impression = with_dev;
    }
    if say[PTX] == Say::Negative && say[DEVICES] == Say::Positive && rng.chance(0.5) {
        impression.push("No pneumothorax.".to_owned());
    }
    if impression.len() >= 2 && rng.chance(0.35) {
        impression
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        impression.join(" ")
    }
}

/// The optional lines before the findings: examination, indication, comparison.
fn header(case: &Case, rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.chance(0.6) {
        let exam = if case.present[DEVICES] && rng.chance(0.7) {
            "CHEST (PORTABLE AP)"
        } else {
            rng.pick(&["CHEST (PA AND LATERAL)", "CHEST (PA)", "CHEST RADIOGRAPH"])
        };
        text.push_str(&format!("EXAMINATION: {exam}\n"));
    }
    if rng.chance(0.6) {
        text.push_str(&format!("INDICATION: {}\n", rng.pick(INDICATIONS)));
    }
    if rng.chance(0.4) {
        text.push_str("COMPARISON: None.\n");
    }
    text
}
