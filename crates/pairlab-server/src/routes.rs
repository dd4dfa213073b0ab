//! The JSON routes: each parses its input and makes one call into core's API.

use axum::Json;
use axum::extract::State;
use pairlab_core::browse::{BrowseFilter, BrowsePage};
use pairlab_core::labels::{CurrentLabel, LabelEvent, Schema};
use pairlab_core::models::ModelRecord;
use pairlab_core::runs::eval::{EvalReport, Misclassified};
use pairlab_core::runs::{EpochMetrics, RunSummary};
use pairlab_core::splits::{LeakageReport, SplitSummary};
use pairlab_core::store::read::{ErrorRow, PairDetail, PairRow, SearchHit, Stats};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{ApiJson, ApiQuery, Id};
use crate::{ApiError, AppState, with_library, with_library_mut};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The most rows one page may ask for.
const MAX_LIMIT: u32 = 1000;
const DEFAULT_SCHEMA: &str = "chexpert";

fn default_schema() -> String {
    DEFAULT_SCHEMA.into()
}

fn limit(asked: Option<u32>, default: u32) -> u32 {
    asked.unwrap_or(default).min(MAX_LIMIT)
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn stats(State(state): State<AppState>) -> ApiResult<Stats> {
    with_library(&state, |lib| lib.stats()).await.map(Json)
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

pub async fn search(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Vec<SearchHit>> {
    let n = limit(q.limit, 20);
    with_library(&state, move |lib| lib.search(&q.q, n))
        .await
        .map(Json)
}

/// Keyset pagination: rows with id greater than `after`.
#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

pub async fn errors(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<Vec<ErrorRow>> {
    let n = limit(p.limit, 100);
    with_library(&state, move |lib| lib.errors(p.after, n))
        .await
        .map(Json)
}

pub async fn pairs(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<Vec<PairRow>> {
    let n = limit(p.limit, 100);
    with_library(&state, move |lib| lib.pairs(p.after, n))
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowseRequest {
    #[serde(default)]
    filter: BrowseFilter,
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

/// One page of the grid: `{"filter": {...}, "after": id, "limit": n}`.
pub async fn browse(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<BrowseRequest>,
) -> ApiResult<BrowsePage> {
    let n = limit(b.limit, 100);
    with_library(&state, move |lib| lib.browse(&b.filter, b.after, n))
        .await
        .map(Json)
}

pub async fn pair(State(state): State<AppState>, Id(id): Id) -> ApiResult<PairDetail> {
    with_library(&state, move |lib| lib.pair(id))
        .await
        .map(Json)
}

pub async fn history(State(state): State<AppState>, Id(id): Id) -> ApiResult<Vec<LabelEvent>> {
    with_library(&state, move |lib| lib.label_history(id))
        .await
        .map(Json)
}

#[derive(Deserialize)]
pub struct SchemaQuery {
    #[serde(default = "default_schema")]
    schema: String,
}

pub async fn labels(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SchemaQuery>,
) -> ApiResult<Vec<CurrentLabel>> {
    with_library(&state, move |lib| lib.current_labels(id, &q.schema))
        .await
        .map(Json)
}

#[derive(Serialize)]
pub struct ReviewStatus {
    pair: i64,
    schema: String,
    status: String,
}

pub async fn review_status(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SchemaQuery>,
) -> ApiResult<ReviewStatus> {
    let schema = q.schema.clone();
    let status = with_library(&state, move |lib| lib.review_status(id, &q.schema)).await?;
    Ok(Json(ReviewStatus {
        pair: id,
        schema,
        status,
    }))
}

pub async fn schemas(State(state): State<AppState>) -> ApiResult<Vec<Schema>> {
    with_library(&state, |lib| lib.schemas()).await.map(Json)
}

pub async fn splits(State(state): State<AppState>) -> ApiResult<Vec<SplitSummary>> {
    with_library(&state, |lib| lib.splits()).await.map(Json)
}

#[derive(Deserialize)]
pub struct LeakageQuery {
    split: String,
    /// Largest dHash Hamming distance counted as a near duplicate.
    near: Option<u32>,
}

pub async fn leakage(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LeakageQuery>,
) -> ApiResult<LeakageReport> {
    let near = q.near.unwrap_or(4).min(64);
    with_library(&state, move |lib| lib.leakage(&q.split, near))
        .await
        .map(Json)
}

pub async fn runs(State(state): State<AppState>) -> ApiResult<Vec<RunSummary>> {
    with_library(&state, |lib| lib.runs()).await.map(Json)
}

pub async fn run(State(state): State<AppState>, Id(id): Id) -> ApiResult<RunSummary> {
    with_library(&state, move |lib| lib.run(id)).await.map(Json)
}

pub async fn run_epochs(State(state): State<AppState>, Id(id): Id) -> ApiResult<Vec<EpochMetrics>> {
    with_library(&state, move |lib| lib.run_epochs(id))
        .await
        .map(Json)
}

fn default_part() -> String {
    "test".into()
}

#[derive(Deserialize)]
pub struct PartQuery {
    #[serde(default = "default_part")]
    part: String,
}

pub async fn evaluate(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<PartQuery>,
) -> ApiResult<EvalReport> {
    with_library(&state, move |lib| lib.evaluate(id, &q.part))
        .await
        .map(Json)
}

#[derive(Deserialize)]
pub struct CellQuery {
    #[serde(default = "default_part")]
    part: String,
    /// True class of the confusion-matrix cell.
    #[serde(rename = "true")]
    truth: Option<String>,
    /// Predicted class of the cell.
    pred: Option<String>,
}

pub async fn misclassified(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<CellQuery>,
) -> ApiResult<Vec<Misclassified>> {
    with_library(&state, move |lib| {
        lib.misclassified(id, &q.part, q.truth.as_deref(), q.pred.as_deref())
    })
    .await
    .map(Json)
}

pub async fn models(State(state): State<AppState>) -> ApiResult<Vec<ModelRecord>> {
    with_library(&state, |lib| lib.models()).await.map(Json)
}

/// `POST /api/labels`: a person sets (`value` 1, 0 or -1) or blanks (`null`) a class.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLabel {
    pair: i64,
    #[serde(default = "default_schema")]
    schema: String,
    class: String,
    value: Option<i8>,
    annotator: String,
}

/// The event written, or `null` when the value did not change.
pub async fn set_label(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<SetLabel>,
) -> ApiResult<Option<LabelEvent>> {
    with_library_mut(&state, move |lib| {
        lib.set_label(b.pair, &b.schema, &b.class, b.value, &b.annotator)
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotator {
    annotator: String,
}

/// The event written, or `null` when there was nothing to undo.
pub async fn undo(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<Annotator>,
) -> ApiResult<Option<LabelEvent>> {
    with_library_mut(&state, move |lib| lib.undo(&b.annotator))
        .await
        .map(Json)
}

/// The event written, or `null` when there was nothing to redo.
pub async fn redo(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<Annotator>,
) -> ApiResult<Option<LabelEvent>> {
    with_library_mut(&state, move |lib| lib.redo(&b.annotator))
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetReview {
    pair: i64,
    #[serde(default = "default_schema")]
    schema: String,
    status: String,
    annotator: String,
}

pub async fn set_review(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<SetReview>,
) -> ApiResult<ReviewStatus> {
    let (pair, schema, status) = (b.pair, b.schema.clone(), b.status.clone());
    with_library(&state, move |lib| {
        lib.set_review(b.pair, &b.schema, &b.status, &b.annotator)
    })
    .await?;
    Ok(Json(ReviewStatus {
        pair,
        schema,
        status,
    }))
}
