//! Long jobs over HTTP: core's [`Jobs`] starts them on their own threads; `GET
//! /api/jobs/{id}` answers a job's state and `GET /api/jobs/{id}/events` streams it (SSE)
//! until the job ends; `POST /api/jobs/{id}/cancel` sets the flag the job checks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use pairlab_core::api::requests::{IndexArgs, JobStarted, TrainArgs};
use pairlab_core::jobs::{Job, JobState};

use crate::extract::{ApiJson, Id};
use crate::{ApiError, AppState, blocking};

type Started = Result<(StatusCode, Json<JobStarted>), ApiError>;

/// `POST /api/runs`: starts training; answers `202 {"job": id}` at once.
pub async fn start_train(
    State(state): State<AppState>,
    ApiJson(args): ApiJson<TrainArgs>,
) -> Started {
    let started = state.jobs.start_train(args)?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// `POST /api/corpora`: starts indexing a folder; answers `202 {"job": id}` at once.
pub async fn start_index(
    State(state): State<AppState>,
    ApiJson(args): ApiJson<IndexArgs>,
) -> Started {
    let started = state.jobs.start_index(args)?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

pub async fn list(State(state): State<AppState>) -> Json<Vec<JobState>> {
    Json(state.jobs.all())
}

pub async fn state(State(state): State<AppState>, Id(id): Id) -> Result<Json<JobState>, ApiError> {
    Ok(Json(state.jobs.state(id as u64)?))
}

pub async fn cancel(State(state): State<AppState>, Id(id): Id) -> Result<Json<JobState>, ApiError> {
    Ok(Json(state.jobs.cancel(id as u64)?))
}

/// Shortest gap between two events of a running job.
const EVENT_GAP: Duration = Duration::from_millis(100);
/// How long one wait for a change may block a worker thread.
const WAIT: Duration = Duration::from_secs(10);

/// `GET /api/jobs/{id}/events`: the job's state now, then at each change (at most every
/// 100 ms), as `job` events; the stream ends after the state that ends the job.
pub async fn events(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job: Arc<Job> = state.jobs.get(id as u64)?;
    let stream =
        futures_util::stream::unfold((job, 0u64, false), |(job, seen, ended)| async move {
            if ended {
                return None;
            }
            if seen > 0 {
                tokio::time::sleep(EVENT_GAP).await;
            }
            let waiter = job.clone();
            let (version, s) = loop {
                let w = waiter.clone();
                let (v, s) = blocking(move || Ok(w.wait_change(seen, WAIT))).await.ok()?;
                if v > seen {
                    break (v, s);
                }
            };
            let end = !s.is_running();
            let event = Event::default()
                .event("job")
                .json_data(&s)
                .unwrap_or_else(|_| Event::default().event("job").data("{}"));
            Some((Ok(event), (job, version, end)))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
