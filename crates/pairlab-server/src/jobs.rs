//! Long jobs (training): each runs on its own thread with its own library connection and
//! reports through core's [`Progress`] trait into a shared [`JobState`], which
//! `GET /api/jobs/{id}` returns and `GET /api/jobs/{id}/events` streams (SSE) until the
//! job ends; `POST /api/jobs/{id}/cancel` sets the flag the job checks.

use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use pairlab_core::progress::{CancelFlag, Progress};
use pairlab_core::runs::{TrainOptions, parse_uncertain};
use pairlab_core::{Error, Library};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::extract::{ApiJson, Id};
use crate::{ApiError, AppState};

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What a client sees of a job.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobState {
    pub id: u64,
    /// What the job does (`train`).
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
    /// The job's answer once done (for `train`, the run summary).
    pub result: Option<Value>,
    /// Core's error (`{"kind","message"}`) once failed or cancelled.
    pub error: Option<Value>,
}

/// One job: its state (watched by SSE streams) and its cancel flag.
pub struct Job {
    state: watch::Sender<JobState>,
    cancel: CancelFlag,
}

impl Job {
    pub fn snapshot(&self) -> JobState {
        self.state.borrow().clone()
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
        self.state.send_modify(|s| s.cancel_requested = true);
    }

    fn finish(&self, outcome: std::thread::Result<pairlab_core::Result<Value>>) {
        self.state.send_modify(|s| match outcome {
            Ok(Ok(v)) => {
                s.status = JobStatus::Done;
                s.result = Some(v);
            }
            Ok(Err(e)) => {
                s.status = if matches!(e, Error::Cancelled) || self.cancel.is_set() {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Failed
                };
                s.error = serde_json::to_value(&e).ok();
            }
            Err(_) => {
                s.status = JobStatus::Failed;
                s.error = Some(json!({"kind": "internal", "message": "the job panicked"}));
            }
        });
    }
}

impl Progress for Job {
    fn stage(&self, name: &str, total: u64) {
        self.state.send_modify(|s| {
            s.stage = Some(name.to_owned());
            s.total = total;
            s.position = 0;
        });
    }

    fn advance(&self, n: u64) {
        self.state.send_modify(|s| s.position += n);
    }

    fn message(&self, text: &str) {
        self.state
            .send_modify(|s| s.message = Some(text.to_owned()));
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

/// The server's jobs, by id (kept until the server stops).
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<JobsInner>>,
}

#[derive(Default)]
struct JobsInner {
    last: u64,
    jobs: HashMap<u64, Arc<Job>>,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, JobsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `work` on its own thread; returns the job's id at once.
    pub fn start(
        &self,
        kind: &str,
        work: impl FnOnce(&Job) -> pairlab_core::Result<Value> + Send + 'static,
    ) -> Result<u64, ApiError> {
        let mut inner = self.lock();
        let id = inner.last + 1;
        let (state, _) = watch::channel(JobState {
            id,
            kind: kind.to_owned(),
            status: JobStatus::Running,
            stage: None,
            position: 0,
            total: 0,
            message: None,
            cancel_requested: false,
            result: None,
            error: None,
        });
        let job = Arc::new(Job {
            state,
            cancel: CancelFlag::default(),
        });
        let worker = job.clone();
        std::thread::Builder::new()
            .name(format!("pairlab-job-{id}"))
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| work(&worker)));
                worker.finish(outcome);
            })
            .map_err(|e| ApiError::Core(Error::io("job thread", e)))?;
        inner.last = id;
        inner.jobs.insert(id, job);
        Ok(id)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.lock().jobs.get(&id).cloned()
    }

    pub fn all(&self) -> Vec<JobState> {
        let mut all: Vec<JobState> = self.lock().jobs.values().map(|j| j.snapshot()).collect();
        all.sort_by_key(|s| s.id);
        all
    }
}

fn find(state: &AppState, id: i64) -> Result<Arc<Job>, ApiError> {
    state
        .jobs
        .get(id as u64)
        .ok_or_else(|| ApiError::not_found(format!("job {id}")))
}

fn default_schema() -> String {
    "chexpert".into()
}
fn default_trainer() -> String {
    "head".into()
}
fn default_epochs() -> usize {
    100
}
fn default_lr() -> f64 {
    0.01
}
fn default_size() -> usize {
    64
}
fn default_uncertain() -> String {
    "ignore".into()
}

/// `POST /api/runs`: core's `TrainOptions`, with the CLI's defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    #[serde(default = "default_schema")]
    pub schema: String,
    pub split: String,
    /// `head` (on a model's image embeddings) or `cnn` (on the images).
    #[serde(default = "default_trainer")]
    pub trainer: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub hidden: usize,
    #[serde(default = "default_size")]
    pub size: usize,
    /// `ignore`, `zeros` or `ones`.
    #[serde(default = "default_uncertain")]
    pub uncertain: String,
    #[serde(default)]
    pub seed: u64,
}

impl TrainRequest {
    pub fn options(self) -> pairlab_core::Result<TrainOptions> {
        Ok(TrainOptions {
            uncertain: parse_uncertain(&self.uncertain)?,
            schema: self.schema,
            split: self.split,
            trainer: self.trainer,
            model: self.model,
            epochs: self.epochs,
            lr: self.lr,
            hidden: self.hidden,
            size: self.size,
            seed: self.seed,
        })
    }
}

/// Starts training; answers `202 {"job": id}` at once.
pub async fn start_train(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TrainRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let opts = req.options()?;
    let dir = state.library.clone();
    let id = state.jobs.start("train", move |job| {
        let mut lib = Library::open(&dir)?;
        let summary = lib.train(&opts, job)?;
        serde_json::to_value(summary).map_err(|e| Error::Invalid(e.to_string()))
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": id }))))
}

pub async fn list(State(state): State<AppState>) -> Json<Vec<JobState>> {
    Json(state.jobs.all())
}

pub async fn state(State(state): State<AppState>, Id(id): Id) -> Result<Json<JobState>, ApiError> {
    Ok(Json(find(&state, id)?.snapshot()))
}

pub async fn cancel(State(state): State<AppState>, Id(id): Id) -> Result<Json<JobState>, ApiError> {
    let job = find(&state, id)?;
    job.cancel();
    Ok(Json(job.snapshot()))
}

/// Shortest gap between two events of a running job.
const EVENT_GAP: Duration = Duration::from_millis(100);

/// `GET /api/jobs/{id}/events`: the job's state now, then at each change (at most every
/// 100 ms), as `job` events; the stream ends after the state that ends the job.
pub async fn events(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let rx = find(&state, id)?.state.subscribe();
    let stream =
        futures_util::stream::unfold((rx, true, false), |(mut rx, first, ended)| async move {
            if ended {
                return None;
            }
            if !first {
                tokio::time::sleep(EVENT_GAP).await;
                if !rx.has_changed().unwrap_or(false) && rx.changed().await.is_err() {
                    return None;
                }
            }
            let s = rx.borrow_and_update().clone();
            let end = s.status != JobStatus::Running;
            let event = Event::default()
                .event("job")
                .json_data(&s)
                .unwrap_or_else(|_| Event::default().event("job").data("{}"));
            Some((Ok(event), (rx, false, end)))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
