//! Long jobs (indexing a corpus, training) for the interactive front ends: each runs on its
//! own thread with its own library connection and reports through [`Progress`] into a
//! shared [`JobState`]. The server streams it as server-sent events, the Tauri shell over
//! a channel; both read it with [`Job::wait_change`]. Cancelling sets the flag the job
//! checks between units of work.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::api::requests::{DemoArgs, IndexArgs, JobStarted, TrainArgs};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::progress::{CancelFlag, Progress};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What a client sees of a job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct JobState {
    pub id: u64,
    /// What the job does (`train`, `index`).
    pub kind: String,
    pub status: JobStatus,
    /// The current stage (e.g. `loading images`, `training`).
    pub stage: Option<String>,
    /// Units of the current stage done, of `total` (0 when unknown).
    pub position: u64,
    pub total: u64,
    /// The latest line from the job (e.g. the loss so far).
    pub message: Option<String>,
    pub cancel_requested: bool,
    /// The record the job makes, once it exists (`run` for training, `corpus` for indexing).
    pub subject: Option<JobSubject>,
    /// The job's answer once done (`train`: the run summary; `index`: the index summary).
    pub result: Option<Value>,
    /// Core's error (`{"kind","message"}`) once failed or cancelled.
    pub error: Option<Value>,
}

/// A record a job makes: its kind and id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, TS)]
pub struct JobSubject {
    pub kind: String,
    pub id: i64,
}

impl JobState {
    pub fn is_running(&self) -> bool {
        self.status == JobStatus::Running
    }
}

/// One job: its state with a change counter, and its cancel flag.
pub struct Job {
    state: Mutex<(u64, JobState)>,
    changed: Condvar,
    cancel: CancelFlag,
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, (u64, JobState)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut JobState)) {
        let mut guard = self.lock();
        f(&mut guard.1);
        guard.0 += 1;
        self.changed.notify_all();
    }

    pub fn snapshot(&self) -> JobState {
        self.lock().1.clone()
    }

    /// The state and its version once it is newer than `seen` (or after `timeout`,
    /// whichever comes first). Start with `seen = 0` to get the state at once.
    pub fn wait_change(&self, seen: u64, timeout: Duration) -> (u64, JobState) {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| s.0 <= seen)
            .unwrap_or_else(|e| e.into_inner());
        (guard.0, guard.1.clone())
    }

    pub fn cancel(&self) -> JobState {
        self.cancel.cancel();
        self.update(|s| s.cancel_requested = true);
        self.snapshot()
    }

    fn finish(&self, outcome: std::thread::Result<Result<Value>>) {
        let cancelled = self.cancel.is_set();
        self.update(|s| match outcome {
            Ok(Ok(v)) => {
                s.status = JobStatus::Done;
                s.result = Some(v);
            }
            Ok(Err(e)) => {
                s.status = if matches!(e, Error::Cancelled) || cancelled {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Failed
                };
                s.error = serde_json::to_value(&e).ok();
            }
            Err(_) => {
                s.status = JobStatus::Failed;
                s.error =
                    Some(serde_json::json!({"kind": "internal", "message": "the job panicked"}));
            }
        });
    }
}

impl Progress for Job {
    fn stage(&self, name: &str, total: u64) {
        self.update(|s| {
            s.stage = Some(name.to_owned());
            s.total = total;
            s.position = 0;
        });
    }

    fn advance(&self, n: u64) {
        self.update(|s| s.position += n);
    }

    fn message(&self, text: &str) {
        self.update(|s| s.message = Some(text.to_owned()));
    }

    fn subject(&self, kind: &str, id: i64) {
        self.update(|s| {
            s.subject = Some(JobSubject {
                kind: kind.to_owned(),
                id,
            })
        });
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

/// Finished jobs kept for clients that ask late; older finished ones are forgotten.
const KEEP_FINISHED: usize = 50;

/// The jobs of one library (one per server or window), by id.
#[derive(Clone)]
pub struct Jobs {
    library: Arc<PathBuf>,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    last: u64,
    jobs: HashMap<u64, Arc<Job>>,
}

fn to_value<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Invalid(e.to_string()))
}

impl Jobs {
    /// The jobs of the library in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Jobs {
        Jobs {
            library: Arc::new(dir.into()),
            inner: Arc::default(),
        }
    }

    /// The library folder the jobs work on.
    pub fn library(&self) -> &std::path::Path {
        &self.library
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `work` on its own thread with its own library connection; returns at once.
    pub fn start(
        &self,
        kind: &str,
        work: impl FnOnce(&mut Library, &Job) -> Result<Value> + Send + 'static,
    ) -> Result<JobStarted> {
        self.launch(kind, false, work)
    }

    /// [`Jobs::start`]; with `alone`, refused while a job of the same kind runs (checked
    /// under the lock that registers the new one).
    fn launch(
        &self,
        kind: &str,
        alone: bool,
        work: impl FnOnce(&mut Library, &Job) -> Result<Value> + Send + 'static,
    ) -> Result<JobStarted> {
        let mut inner = self.lock();
        if alone
            && let Some(id) = inner.jobs.iter().find_map(|(id, j)| {
                let s = j.snapshot();
                (s.kind == kind && s.is_running()).then_some(*id)
            })
        {
            return Err(Error::Conflict(format!(
                "a {kind} job is running already (job {id})"
            )));
        }
        let id = inner.last + 1;
        let job = Arc::new(Job {
            state: Mutex::new((
                1,
                JobState {
                    id,
                    kind: kind.to_owned(),
                    status: JobStatus::Running,
                    stage: None,
                    position: 0,
                    total: 0,
                    message: None,
                    cancel_requested: false,
                    subject: None,
                    result: None,
                    error: None,
                },
            )),
            changed: Condvar::new(),
            cancel: CancelFlag::default(),
        });
        let worker = job.clone();
        let dir = self.library.clone();
        std::thread::Builder::new()
            .name(format!("pairlab-job-{id}"))
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    Library::open(&dir).and_then(|mut lib| work(&mut lib, &worker))
                }));
                worker.finish(outcome);
            })
            .map_err(|e| Error::io("job thread", e))?;
        inner.last = id;
        inner.jobs.insert(id, job);
        forget_old(&mut inner);
        Ok(JobStarted { job: id })
    }

    /// Trains a model (see `Library::train`); the result is the run summary.
    pub fn start_train(&self, args: TrainArgs) -> Result<JobStarted> {
        let opts = args.options()?;
        self.start("train", move |lib, job| to_value(lib.train(&opts, job)?))
    }

    /// Searches a split for likely label errors (see `Library::find_label_issues`); the
    /// result is the stored report.
    pub fn start_label_issues(
        &self,
        args: crate::api::library_args::LabelIssueArgs,
    ) -> Result<JobStarted> {
        let opts = args.options()?;
        self.start("label-issues", move |lib, job| {
            to_value(lib.find_label_issues(&opts, job)?)
        })
    }

    /// Makes a 2-D map of a model's embeddings (see `Library::make_map`); the result is its
    /// summary.
    pub fn start_map(&self, opts: crate::map::MapOptions) -> Result<JobStarted> {
        self.start("map", move |lib, job| to_value(lib.make_map(&opts, job)?))
    }

    /// Trains the learned report labeler (see `Library::learn_labeler`); the result is the
    /// run summary.
    pub fn start_learn_labeler(&self, opts: crate::runs::LearnOptions) -> Result<JobStarted> {
        self.start("learn-labeler", move |lib, job| {
            to_value(lib.learn_labeler(&opts, job)?)
        })
    }

    /// Exports pairs (see `Library::export`); the result is the export summary.
    pub fn start_export(&self, opts: crate::export::ExportOptions) -> Result<JobStarted> {
        if !std::path::Path::new(&opts.out).is_absolute() {
            return Err(Error::field(
                "out",
                format!("{} is not an absolute path", opts.out),
            ));
        }
        self.start("export", move |lib, job| to_value(lib.export(&opts, job)?))
    }

    /// Imports a label file (see `Library::import_labels`); the result is the import
    /// summary.
    pub fn start_import_labels(
        &self,
        opts: crate::labels::import::ImportOptions,
    ) -> Result<JobStarted> {
        if let Some(file) = &opts.file
            && !std::path::Path::new(file).is_absolute()
        {
            return Err(Error::field(
                "file",
                format!("{file} is not an absolute path"),
            ));
        }
        self.start("import-labels", move |lib, job| {
            to_value(lib.import_labels(&opts, job)?)
        })
    }

    /// Pre-labels every pair of a schema (see `PrelabelArgs`); the result is the
    /// pre-labelling summary.
    pub fn start_prelabel(
        &self,
        args: crate::api::library_args::PrelabelArgs,
    ) -> Result<JobStarted> {
        args.check()?;
        self.start("prelabel", move |lib, job| match args.from.as_str() {
            "reports" => {
                let labeler = lib.labeler_for(&args.schema)?;
                to_value(lib.prelabel_reports(&labeler, &args.schema, job)?)
            }
            "zero-shot" => to_value(lib.prelabel_zero_shot(
                args.model.as_deref().unwrap_or_default(),
                &args.schema,
                job,
            )?),
            _ => to_value(lib.prelabel_classifier(
                args.model.as_deref().unwrap_or_default(),
                &args.schema,
                &crate::embed::classifier::OutputMap::xrv(),
                job,
            )?),
        })
    }

    /// Indexes a corpus folder (see `Library::index`); the result is the index summary.
    pub fn start_index(&self, args: IndexArgs) -> Result<JobStarted> {
        let (root, opts) = args.options()?;
        if !root.is_absolute() {
            return Err(Error::Invalid(format!(
                "{} is not an absolute path",
                root.display()
            )));
        }
        if !root.is_dir() {
            return Err(Error::NotFound(format!("no folder at {}", root.display())));
        }
        self.start("index", move |lib, job| {
            to_value(lib.index(&root, &opts, job)?)
        })
    }

    /// Writes the demo corpus into the library's `demo-corpus` folder and runs the demo
    /// on it (see `demo::tour`); each step's line becomes the job's message, the result is
    /// the tour (the corpus folder, the run, the text encoder searched with).
    pub fn start_demo(&self, args: DemoArgs) -> Result<JobStarted> {
        use crate::demo::tour::{self, TourOptions};
        let opts = TourOptions {
            dir: self.library.join("demo-corpus"),
            patients: args.patients()?,
            seed: 7,
        };
        // One at a time: two would write the same folder.
        self.launch("demo", true, move |lib, job| {
            let done = tour::run(lib, &opts, job, &mut |step| job.message(&step.summary()))?;
            to_value(done)
        })
    }

    pub fn get(&self, id: u64) -> Result<Arc<Job>> {
        self.lock()
            .jobs
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("job {id}")))
    }

    pub fn state(&self, id: u64) -> Result<JobState> {
        Ok(self.get(id)?.snapshot())
    }

    pub fn cancel(&self, id: u64) -> Result<JobState> {
        Ok(self.get(id)?.cancel())
    }

    /// Every job still known, oldest first.
    pub fn all(&self) -> Vec<JobState> {
        let mut all: Vec<JobState> = self.lock().jobs.values().map(|j| j.snapshot()).collect();
        all.sort_by_key(|s| s.id);
        all
    }
}

fn forget_old(inner: &mut Inner) {
    let mut finished: Vec<u64> = inner
        .jobs
        .iter()
        .filter(|(_, j)| !j.snapshot().is_running())
        .map(|(id, _)| *id)
        .collect();
    if finished.len() > KEEP_FINISHED {
        finished.sort_unstable();
        for id in &finished[..finished.len() - KEEP_FINISHED] {
            inner.jobs.remove(id);
        }
    }
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
