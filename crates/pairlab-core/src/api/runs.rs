//! The training part of the API.

use super::requests::CellArgs;
use crate::error::Result;
use crate::library::Library;
use crate::progress::Progress;
use crate::runs::eval::{self, EvalReport, Misclassified};
use crate::runs::{self, EpochMetrics, RunSummary, TrainOptions};

impl Library {
    /// Trains a classifier on a split and stores the run (checkpoint under `runs/<id>/`).
    pub fn train(&mut self, opts: &TrainOptions, progress: &dyn Progress) -> Result<RunSummary> {
        let root = self.root().to_path_buf();
        runs::train(self.conn_mut(), &root, opts, progress)
    }

    /// Searches a split for likely label errors: K patient-grouped fold runs, then
    /// confident learning on their out-of-fold probabilities (see `label_issues`).
    pub fn find_label_issues(
        &mut self,
        opts: &crate::label_issues::IssueOptions,
        progress: &dyn Progress,
    ) -> Result<crate::label_issues::LabelIssueReport> {
        let root = self.root().to_path_buf();
        crate::label_issues::find(self.conn_mut(), &root, opts, progress)
    }

    /// A stored label-issue search with the issues `reading` asks for.
    pub fn label_issues(
        &self,
        id: i64,
        reading: crate::label_issues::Reading,
    ) -> Result<crate::label_issues::LabelIssueReport> {
        crate::label_issues::get(self.conn(), id, reading)
    }

    /// A reviewer's act on one flagged row (see `label_issues::resolve`).
    pub fn resolve_label_issue(
        &mut self,
        set: i64,
        pair: i64,
        class: &str,
        outcome: crate::label_issues::Outcome,
        annotator: &str,
    ) -> Result<crate::label_issues::Resolved> {
        crate::label_issues::resolve(self.conn_mut(), set, pair, class, outcome, annotator)
    }

    /// Every stored label-issue search, newest first, without its issues.
    pub fn label_issue_sets(&self) -> Result<Vec<crate::label_issues::LabelIssueReport>> {
        crate::label_issues::list(self.conn())
    }

    /// Trains the learned report labeler of a schema (see `runs::learn_labeler`).
    pub fn learn_labeler(
        &mut self,
        opts: &runs::LearnOptions,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        let root = self.root().to_path_buf();
        runs::learn_labeler(self.conn_mut(), &root, opts, progress)
    }

    /// Where a schema's learned labeler stands.
    pub fn labeler_status(&self, schema: &str) -> Result<runs::LabelerStatus> {
        runs::labeler_status(self.conn(), schema)
    }

    /// A `text` run's labels of report texts (1 or 0 per class at its val thresholds;
    /// None for an empty text), as the learned labeler gives them.
    pub fn label_texts_with_run(&self, run: i64, texts: &[String]) -> Result<Vec<Vec<Option<i8>>>> {
        runs::label_texts(self.conn(), run, texts)
    }

    /// What a `finetune` run would need (memory, chunking, time per epoch).
    pub fn estimate_train(&self, opts: &TrainOptions) -> Result<runs::RunEstimate> {
        runs::estimate(self.conn(), opts)
    }

    /// All runs, oldest first.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        runs::list(self.conn())
    }

    pub fn run(&self, id: i64) -> Result<RunSummary> {
        runs::get(self.conn(), id)
    }

    /// A run's per-epoch losses and validation accuracy so far (for live curves).
    pub fn run_epochs(&self, id: i64) -> Result<Vec<EpochMetrics>> {
        runs::epochs(self.conn(), id)
    }

    /// What run `run` predicted for pair `pair` (the Sample view shows it beside the labels).
    pub fn pair_prediction(&self, run: i64, pair: i64) -> Result<runs::PairPrediction> {
        runs::pair_prediction(self.conn(), run, pair)
    }

    /// Metrics of a run on one part of its split (with bootstrap intervals).
    pub fn evaluate(&self, run: i64, part: &str) -> Result<EvalReport> {
        eval::evaluate(self.conn(), run, part)
    }

    /// Labels every pair of the run's split from its predictions (source `model:run-<id>`);
    /// returns the source name and the number of pairs.
    pub fn prelabel_from_run(&mut self, run: i64) -> Result<(String, u64)> {
        eval::prelabel(self.conn_mut(), run)
    }

    /// The samples behind a confusion-matrix cell.
    pub fn misclassified(
        &self,
        run: i64,
        part: &str,
        class: Option<&str>,
        truth: Option<&str>,
        pred: Option<&str>,
    ) -> Result<Vec<Misclassified>> {
        eval::misclassified(self.conn(), run, part, class, truth, pred)
    }

    /// The samples behind the confusion-matrix cell that `cell` names.
    pub fn misclassified_cell(&self, run: i64, cell: &CellArgs) -> Result<Vec<Misclassified>> {
        self.misclassified(
            run,
            &cell.part,
            cell.class.as_deref(),
            cell.truth.as_deref(),
            cell.pred.as_deref(),
        )
    }
}
