//! A job's progress over HTTP: `GET /api/jobs/{id}/events` streams its state (SSE) until
//! the job ends. Starting, reading and cancelling jobs are JSON endpoints like the others.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use pairlab_core::jobs::Job;

use crate::extract::Id;
use crate::{ApiError, AppState, blocking};

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
