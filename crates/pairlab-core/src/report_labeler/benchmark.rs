//! The report labeler's real-report benchmark: IU X-ray reports (OpenI XML) scored
//! against gold labels derived from their MeSH major terms by a mapping table
//! (`bench/labeler_real_gold.toml`), on two fixed halves — the development half (odd file
//! numbers), where rules are written and tuned, and the held-out half (even numbers),
//! which is only ever scored.
//!
//! Scoring is binary per class: gold positive against gold negative (reports the mapping
//! leaves out of a class are not counted for it); the labeler's uncertain counts as
//! negative (`strict`) or as positive (`lenient`).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Labeler, Value};
use crate::ingest::layout::iu_xml;
use crate::{Error, Result};

/// The five common classes the benchmark averages on its own.
pub const COMMON: [&str; 5] = [
    "Cardiomegaly",
    "Pleural Effusion",
    "Atelectasis",
    "Edema",
    "Pneumothorax",
];

/// Classes with at least this many gold positives in a half enter its "all classes" mean.
pub const MIN_SUPPORT: u64 = 20;

/// One IU X-ray report: its file number, the labelled text and its MeSH major terms.
#[derive(Clone, Debug)]
pub struct IuReport {
    pub number: u32,
    /// "FINDINGS: ...\nIMPRESSION: ..." (only those two sections).
    pub text: String,
    pub mesh: Vec<String>,
}

/// The two halves of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Half {
    /// Odd file numbers: rules are written and tuned looking at these.
    Development,
    /// Even file numbers: only ever scored.
    HeldOut,
}

impl Half {
    pub fn of(number: u32) -> Half {
        if number % 2 == 1 {
            Half::Development
        } else {
            Half::HeldOut
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Half::Development => "development",
            Half::HeldOut => "held-out",
        }
    }
}

/// Reads the OpenI XML reports of `dir` (`<n>.xml`, at any depth) that have FINDINGS or
/// IMPRESSION, in file-number order. A file that does not parse is an error naming it.
pub fn read_iu_reports(dir: &Path) -> Result<Vec<IuReport>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        let Some(number) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".xml"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let xml = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let parsed =
            iu_xml::parse(&xml).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let text = parsed
            .text
            .lines()
            .filter(|l| l.starts_with("FINDINGS:") || l.starts_with("IMPRESSION:"))
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            continue;
        }
        out.push(IuReport {
            number,
            text,
            mesh: parsed.mesh_major,
        });
    }
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "no IU X-ray report (<n>.xml with FINDINGS or IMPRESSION) under {}",
            dir.display()
        )));
    }
    out.sort_by_key(|r| r.number);
    Ok(out)
}

/// A report's gold value for one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gold {
    Positive,
    Negative,
    /// The report's terms make the class ambiguous: not scored.
    Ignored,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    classes: Vec<String>,
    #[serde(default)]
    excluded: Vec<String>,
    no_finding: Option<NoFindingDef>,
    #[serde(rename = "rule", default)]
    rules: Vec<RuleDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFindingDef {
    class: String,
    normal: Vec<String>,
    #[serde(default)]
    not_blocking: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    mesh: String,
    #[serde(default)]
    with: Vec<String>,
    #[serde(default)]
    without: Vec<String>,
    #[serde(default)]
    positive: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    /// Why the rule is there; documentation only.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "read from the file for people: every gold-map rule carries why"
    )]
    note: Option<String>,
}

struct Rule {
    mesh: String,
    with: Vec<String>,
    without: Vec<String>,
    positive: Vec<usize>,
    ignore: Vec<usize>,
}

/// The MeSH → class mapping (see `bench/labeler_real_gold.toml` for the layout).
pub struct GoldMap {
    classes: Vec<String>,
    excluded: Vec<String>,
    rules: Vec<Rule>,
    /// (class, normal terms, classes that do not block it)
    no_finding: Option<(usize, Vec<String>, Vec<bool>)>,
}

/// Lower case with single spaces, as MeSH terms are compared.
fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl GoldMap {
    pub fn from_toml(text: &str) -> Result<GoldMap> {
        let file: MapFile =
            toml::from_str(text).map_err(|e| Error::Invalid(format!("gold map: {e}")))?;
        let index = |name: &str| -> Result<usize> {
            file.classes
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| Error::Invalid(format!("gold map: unknown class {name:?}")))
        };
        let indices = |names: &[String]| names.iter().map(|n| index(n)).collect::<Result<_>>();
        let rules = file
            .rules
            .iter()
            .map(|r| {
                Ok(Rule {
                    mesh: norm(&r.mesh),
                    with: r.with.iter().map(|s| norm(s)).collect(),
                    without: r.without.iter().map(|s| norm(s)).collect(),
                    positive: indices(&r.positive)?,
                    ignore: indices(&r.ignore)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let no_finding = match &file.no_finding {
            None => None,
            Some(nf) => {
                let mut not_blocking = vec![false; file.classes.len()];
                for c in &nf.not_blocking {
                    not_blocking[index(c)?] = true;
                }
                Some((
                    index(&nf.class)?,
                    nf.normal.iter().map(|s| norm(s)).collect(),
                    not_blocking,
                ))
            }
        };
        Ok(GoldMap {
            excluded: file.excluded.iter().map(|s| norm(s)).collect(),
            classes: file.classes,
            rules,
            no_finding,
        })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The gold value of every class for a report's MeSH terms, or `None` when the report
    /// is left out entirely.
    pub fn gold(&self, mesh: &[String]) -> Option<Vec<Gold>> {
        let n = self.classes.len();
        let (mut positive, mut ignored) = (vec![false; n], vec![false; n]);
        let mut all_normal = !mesh.is_empty();
        for term in mesh {
            let mut parts = term.split('/').map(norm);
            let head = parts.next().unwrap_or_default();
            if self.excluded.contains(&head) {
                return None;
            }
            let qualifiers: Vec<String> = parts.collect();
            if let Some((_, normal, _)) = &self.no_finding {
                all_normal &= normal.contains(&head) && qualifiers.is_empty();
            }
            let rule = self.rules.iter().find(|r| {
                r.mesh == head
                    && r.with.iter().all(|q| qualifiers.contains(q))
                    && !r.without.iter().any(|q| qualifiers.contains(q))
            });
            if let Some(r) = rule {
                r.positive.iter().for_each(|&c| positive[c] = true);
                r.ignore.iter().for_each(|&c| ignored[c] = true);
            }
        }
        let mut gold: Vec<Gold> = (0..n)
            .map(|c| match (positive[c], ignored[c]) {
                (true, _) => Gold::Positive,
                (false, true) => Gold::Ignored,
                _ => Gold::Negative,
            })
            .collect();
        if let Some((nf, _, not_blocking)) = &self.no_finding {
            let blocked = (0..n).any(|c| c != *nf && !not_blocking[c] && positive[c]);
            gold[*nf] = if all_normal {
                Gold::Positive
            } else if blocked {
                Gold::Negative
            } else {
                Gold::Ignored
            };
        }
        Some(gold)
    }
}

/// Binary counts of one class in one half.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
}

impl Counts {
    pub fn support(&self) -> u64 {
        self.tp + self.fn_
    }
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One class's scores in one half.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassScore {
    pub class: String,
    pub support: u64,
    /// Reports scored for this class (gold positive or negative).
    pub scored: u64,
    pub strict: Prf,
    pub lenient: Prf,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl From<&Counts> for Prf {
    fn from(c: &Counts) -> Prf {
        Prf {
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            tp: c.tp,
            fp: c.fp,
            fn_: c.fn_,
        }
    }
}

/// Mean F1 over a set of classes, strict and lenient.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mean {
    pub classes: Vec<String>,
    pub strict: f64,
    pub lenient: f64,
}

/// The scores of one half.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HalfScore {
    pub half: Half,
    /// Reports labelled (with FINDINGS or IMPRESSION, not left out by the mapping).
    pub reports: usize,
    pub classes: Vec<ClassScore>,
    /// Mean F1 over the five common classes.
    pub common: Mean,
    /// Mean F1 over the classes with at least [`MIN_SUPPORT`] gold positives.
    pub supported: Mean,
    /// Reports labelled per second on one thread (labelling only).
    pub reports_per_s: f64,
}

/// A report with its gold and predicted values, for writing and explaining.
pub struct Scored<'a> {
    pub report: &'a IuReport,
    pub gold: Vec<Gold>,
    /// The labeler's values, in the map's class order.
    pub pred: Vec<Option<Value>>,
}

/// Labels the reports of one half and scores them against the map's gold.
pub fn score_half<'a>(
    labeler: &Labeler,
    map: &GoldMap,
    reports: &'a [IuReport],
    half: Half,
) -> Result<(HalfScore, Vec<Scored<'a>>)> {
    let columns: Vec<usize> = map
        .classes()
        .iter()
        .map(|c| {
            labeler
                .classes()
                .iter()
                .position(|l| l == c)
                .ok_or_else(|| {
                    Error::Invalid(format!("the labeler has no class {c:?} of the gold map"))
                })
        })
        .collect::<Result<_>>()?;
    let mine: Vec<(&IuReport, Vec<Gold>)> = reports
        .iter()
        .filter(|r| Half::of(r.number) == half)
        .filter_map(|r| map.gold(&r.mesh).map(|g| (r, g)))
        .collect();
    // Time labelling alone, repeated until it has run long enough to read.
    let started = Instant::now();
    let mut rounds = 0u32;
    let mut labels = Vec::new();
    while rounds == 0 || started.elapsed().as_secs_f64() < 0.5 {
        labels = mine.iter().map(|(r, _)| labeler.label(&r.text)).collect();
        rounds += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let reports_per_s = (mine.len() as f64 * f64::from(rounds)) / seconds.max(1e-9);

    let n = columns.len();
    let (mut strict, mut lenient) = (vec![Counts::default(); n], vec![Counts::default(); n]);
    let mut scored = Vec::with_capacity(mine.len());
    for ((report, gold), labels) in mine.into_iter().zip(labels) {
        let pred: Vec<Option<Value>> = columns.iter().map(|&c| labels.values[c]).collect();
        for c in 0..n {
            let truth = match gold[c] {
                Gold::Positive => true,
                Gold::Negative => false,
                Gold::Ignored => continue,
            };
            let s = pred[c] == Some(Value::Positive);
            let l = s || pred[c] == Some(Value::Uncertain);
            count(&mut strict[c], truth, s);
            count(&mut lenient[c], truth, l);
        }
        scored.push(Scored { report, gold, pred });
    }
    let classes: Vec<ClassScore> = map
        .classes()
        .iter()
        .enumerate()
        .map(|(c, name)| ClassScore {
            class: name.clone(),
            support: strict[c].support(),
            scored: strict[c].tp + strict[c].fp + strict[c].fn_ + strict[c].tn,
            strict: (&strict[c]).into(),
            lenient: (&lenient[c]).into(),
        })
        .collect();
    let mean = |pick: &dyn Fn(&ClassScore) -> bool| {
        let chosen: Vec<&ClassScore> = classes.iter().filter(|c| pick(c)).collect();
        let avg = |f: &dyn Fn(&ClassScore) -> f64| {
            chosen.iter().map(|c| f(c)).sum::<f64>() / chosen.len().max(1) as f64
        };
        Mean {
            classes: chosen.iter().map(|c| c.class.clone()).collect(),
            strict: avg(&|c| c.strict.f1),
            lenient: avg(&|c| c.lenient.f1),
        }
    };
    let score = HalfScore {
        half,
        reports: scored.len(),
        common: mean(&|c| COMMON.contains(&c.class.as_str())),
        supported: mean(&|c| c.support >= MIN_SUPPORT),
        classes,
        reports_per_s,
    };
    Ok((score, scored))
}

fn count(c: &mut Counts, truth: bool, pred: bool) {
    match (truth, pred) {
        (true, true) => c.tp += 1,
        (false, true) => c.fp += 1,
        (true, false) => c.fn_ += 1,
        (false, false) => c.tn += 1,
    }
}

/// Writes a half as two CheXpert-layout CSVs (`Reports` + the classes): the gold (1 / 0,
/// blank where the class is left out) and the labeler's output (1 / 0 / -1 / blank), for
/// `pairlab labeler eval --count strict --explain CLASS`.
pub fn write_csvs(
    map: &GoldMap,
    scored: &[Scored],
    gold: impl std::io::Write,
    pred: impl std::io::Write,
) -> Result<()> {
    let csv_err = |e: csv::Error| Error::Invalid(format!("csv: {e}"));
    let mut g = csv::Writer::from_writer(gold);
    let mut p = csv::Writer::from_writer(pred);
    let header: Vec<&str> = std::iter::once("Reports")
        .chain(map.classes().iter().map(String::as_str))
        .collect();
    g.write_record(&header).map_err(csv_err)?;
    p.write_record(&header).map_err(csv_err)?;
    for s in scored {
        let gold_cells = s.gold.iter().map(|v| match v {
            Gold::Positive => "1.0",
            Gold::Negative => "0.0",
            Gold::Ignored => "",
        });
        g.write_record(std::iter::once(s.report.text.as_str()).chain(gold_cells))
            .map_err(csv_err)?;
        let pred_cells = s.pred.iter().map(|v| match v {
            Some(Value::Positive) => "1.0",
            Some(Value::Negative) => "0.0",
            Some(Value::Uncertain) => "-1.0",
            None => "",
        });
        p.write_record(std::iter::once(s.report.text.as_str()).chain(pred_cells))
            .map_err(csv_err)?;
    }
    g.flush().map_err(|e| Error::io("gold csv", e))?;
    p.flush().map_err(|e| Error::io("predictions csv", e))?;
    Ok(())
}

#[cfg(test)]
#[path = "benchmark_tests.rs"]
mod tests;
