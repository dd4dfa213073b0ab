//! `pairlab demo` from start to end: writes the demo corpus, indexes it, pre-labels its
//! reports and checks them against what the reports state, searches them by meaning when a
//! text encoder is at hand, splits by patient, trains the small CNN on the report labels
//! and evaluates it. Each step's result goes to `on_step` as soon as it is done; a front
//! end only shows them.

use std::path::{Path, PathBuf};

use super::agreement::{self, Agreement};
use super::{DemoCorpus, write_corpus};
use crate::embed::similar::{Query, SimilarHit, Target};
use crate::embed::{EmbedSummary, What};
use crate::error::{Error, Result};
use crate::ingest::{IndexOptions, IndexSummary};
use crate::library::Library;
use crate::prelabel::PrelabelSummary;
use crate::progress::Progress;
use crate::report_labeler::Labeler;
use crate::runs::eval::EvalReport;
use crate::runs::{RunSummary, TrainOptions, Trainer, Uncertain};
use crate::splits::{SplitOptions, SplitSummary, Strategy};

/// What the tour makes.
#[derive(Clone, Debug)]
pub struct TourOptions {
    /// Where the demo corpus is written (reused when it is already there).
    pub dir: PathBuf,
    pub patients: u32,
    pub seed: u64,
}

/// A search of the demo reports by meaning.
#[derive(Clone, Debug)]
pub struct Search {
    /// The text encoder used.
    pub model: String,
    pub embedded: EmbedSummary,
    pub query: &'static str,
    pub hits: Vec<SimilarHit>,
}

/// One step's result, in the order they happen.
pub enum Step<'a> {
    Corpus(&'a DemoCorpus),
    Indexed(&'a IndexSummary),
    /// The report labeler's labels, and how they agree with what each report states.
    Prelabelled {
        summary: &'a PrelabelSummary,
        agreement: &'a [Agreement],
    },
    /// No text encoder is registered or fetched: no search by meaning.
    NoTextEncoder,
    Searched(&'a Search),
    Split(&'a SplitSummary),
    Trained(&'a RunSummary),
    Evaluated(&'a EvalReport),
    /// The run could not be evaluated on its test part (the tour goes on).
    NotEvaluated(&'a Error),
}

/// What the tour left behind.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tour {
    pub corpus: PathBuf,
    /// The training run.
    pub run: i64,
    /// The text encoder the reports were embedded with, if any.
    pub search_model: Option<String>,
}

impl Step<'_> {
    /// One line on what the step did (a job's message while the demo runs in the UI).
    pub fn summary(&self) -> String {
        match self {
            Step::Corpus(c) => format!(
                "Wrote {} patients, {} studies, {} images",
                c.patients, c.studies, c.images
            ),
            Step::Indexed(s) => format!("Indexed {} pairs", s.pairs),
            Step::Prelabelled { summary, .. } => format!(
                "Pre-labelled {} reports with the report labeler",
                summary.reports
            ),
            Step::NoTextEncoder => "No text encoder: no search by meaning".into(),
            Step::Searched(s) => {
                format!("Embedded {} reports with {}", s.embedded.reports, s.model)
            }
            Step::Split(s) => format!("Split {} by patient", s.name),
            Step::Trained(r) => format!("Trained run {} (a small CNN)", r.run_id),
            Step::Evaluated(e) => format!(
                "Run {} on the test part: macro F1 {:.3}",
                e.run_id, e.macro_f1
            ),
            Step::NotEvaluated(e) => format!("No evaluation on the test part: {e}"),
        }
    }
}

/// The query the tour searches the reports with.
const QUERY: &str = "fluid collecting around the lung";

/// Runs the whole tour on `lib`, reporting each step to `on_step`.
pub fn run(
    lib: &mut Library,
    opts: &TourOptions,
    progress: &dyn Progress,
    on_step: &mut dyn FnMut(Step<'_>),
) -> Result<Tour> {
    let corpus = write_corpus(&opts.dir, opts.patients, opts.seed)?;
    on_step(Step::Corpus(&corpus));
    let indexed = lib.index(&opts.dir, &IndexOptions::default(), progress)?;
    on_step(Step::Indexed(&indexed));
    let labeler = Labeler::chexpert().map_err(|e| Error::Invalid(e.to_string()))?;
    let summary = lib.prelabel_reports(&labeler, "chexpert", progress)?;
    let agreement = agreement::agreement(lib.conn(), &opts.dir)?;
    on_step(Step::Prelabelled {
        summary: &summary,
        agreement: &agreement,
    });
    let search_model = match search(lib, progress)? {
        Some(s) => {
            on_step(Step::Searched(&s));
            Some(s.model)
        }
        None => {
            on_step(Step::NoTextEncoder);
            None
        }
    };
    let split = lib.make_split(&SplitOptions {
        name: "demo-by-patient".into(),
        strategy: Strategy::Patient,
        parts: vec![
            ("train".into(), 0.7),
            ("val".into(), 0.15),
            ("test".into(), 0.15),
        ],
        seed: 0,
        stratify: None,
        freeze: false,
    })?;
    on_step(Step::Split(&split));
    let run = lib.train(
        &TrainOptions {
            schema: "chexpert".into(),
            split: split.name.clone(),
            trainer: Trainer::Cnn,
            model: None,
            epochs: 15,
            lr: 1e-2,
            hidden: 0,
            size: 32,
            uncertain: Uncertain::Ignore,
            seed: 0,
            tune: Default::default(),
            text: Default::default(),
            labels: Default::default(),
        },
        progress,
    )?;
    on_step(Step::Trained(&run));
    match lib.evaluate(run.run_id, "test") {
        Ok(report) => on_step(Step::Evaluated(&report)),
        Err(e) => on_step(Step::NotEvaluated(&e)),
    }
    Ok(Tour {
        corpus: opts.dir.clone(),
        run: run.run_id,
        search_model,
    })
}

/// Where scripts/fetch-fixtures.sh puts the small real text encoder, if it is there.
fn fetched_text_encoder() -> Option<PathBuf> {
    let dir = pairlab_ml::random_weights::fixtures_root().join("minilm");
    dir.join("model.safetensors").is_file().then_some(dir)
}

/// Embeds the demo reports with a text encoder (a registered one, else the fetched
/// all-MiniLM-L6-v2) and searches them by meaning; `None` without an encoder.
fn search(lib: &mut Library, progress: &dyn Progress) -> Result<Option<Search>> {
    let registered = lib.models()?.into_iter().find(|m| m.texts && !m.images);
    let model = match (registered, fetched_text_encoder()) {
        (Some(m), _) => m.name,
        (None, Some(dir)) => lib.add_model(&path_text(&dir), Some("minilm"))?.0.name,
        (None, None) => return Ok(None),
    };
    let embedded = lib.embed(&model, What::Reports, progress)?;
    let hits = lib.similar(&model, &Query::Text(QUERY.into()), Some(Target::Reports), 3)?;
    Ok(Some(Search {
        model,
        embedded,
        query: QUERY,
        hits,
    }))
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn the_tour_reports_every_step_in_order_and_leaves_a_trained_run() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut lib = Library::open(&tmp.path().join("lib"))?;
        let opts = TourOptions {
            dir: tmp.path().join("corpus"),
            patients: 4,
            seed: 3,
        };
        let mut seen = Vec::new();
        let tour = run(&mut lib, &opts, &Silent, &mut |step| {
            seen.push(match step {
                Step::Corpus(c) => {
                    assert_eq!(c.patients, 4);
                    "corpus"
                }
                Step::Indexed(s) => {
                    assert_eq!(s.errors, 0);
                    "indexed"
                }
                Step::Prelabelled { summary, agreement } => {
                    assert!(summary.labels > 0 && !agreement.is_empty());
                    "prelabelled"
                }
                Step::NoTextEncoder | Step::Searched(_) => "search",
                Step::Split(s) => {
                    assert_eq!(s.parts.len(), 3);
                    "split"
                }
                Step::Trained(r) => {
                    assert_eq!((r.status.as_str(), r.trainer.as_str()), ("done", "cnn"));
                    "trained"
                }
                Step::Evaluated(_) | Step::NotEvaluated(_) => "evaluated",
            })
        })?;
        assert_eq!(
            seen,
            [
                "corpus",
                "indexed",
                "prelabelled",
                "search",
                "split",
                "trained",
                "evaluated"
            ]
        );
        assert_eq!(lib.run(tour.run)?.status, crate::runs::RunStatus::Done);
        assert_eq!(tour.corpus, opts.dir);
        Ok(())
    }
}
