//! The JSON routes: each parses its input and makes one call into core's API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use pairlab_core::api::requests::{
    AnnotatorArgs, BrowseArgs, CellArgs, Health, LeakageArgs, PageArgs, PartArgs, ReviewStatus,
    SchemaArgs, SearchArgs, SetLabelArgs, SetReviewArgs,
};
use pairlab_core::browse::BrowsePage;
use pairlab_core::labeler::Evidence;
use pairlab_core::labels::{CurrentLabel, LabelEvent, Schema};
use pairlab_core::models::ModelRecord;
use pairlab_core::runs::eval::{EvalReport, Misclassified};
use pairlab_core::runs::{EpochMetrics, RunSummary};
use pairlab_core::splits::{LeakageReport, SplitSummary};
use pairlab_core::store::read::{ErrorRow, PairDetail, PairRow, SearchHit, Stats};

use pairlab_core::users::Role;

use crate::auth::CurrentUser;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::{ApiError, AppState, with_library, with_library_mut};

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn health() -> Json<Health> {
    Json(Health::now())
}

pub async fn stats(State(state): State<AppState>) -> ApiResult<Stats> {
    with_library(&state, |lib| lib.stats()).await.map(Json)
}

pub async fn search(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchArgs>,
) -> ApiResult<Vec<SearchHit>> {
    with_library(&state, move |lib| lib.search(&q.q, q.page()))
        .await
        .map(Json)
}

pub async fn errors(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageArgs>,
) -> ApiResult<Vec<ErrorRow>> {
    with_library(&state, move |lib| lib.errors(p.after, p.page()))
        .await
        .map(Json)
}

pub async fn pairs(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageArgs>,
) -> ApiResult<Vec<PairRow>> {
    with_library(&state, move |lib| lib.pairs(p.after, p.page()))
        .await
        .map(Json)
}

/// One page of the grid: `{"filter": {...}, "sort": {...}, "after": cursor, "limit": n}`.
pub async fn browse(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<BrowseArgs>,
) -> ApiResult<BrowsePage> {
    with_library(&state, move |lib| {
        lib.browse(&b.filter, &b.sort, b.after.as_deref(), b.page())
    })
    .await
    .map(Json)
}

/// How many pairs the grid pages through: the body of a `browse` call (its cursor and
/// limit are ignored).
pub async fn browse_count(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<BrowseArgs>,
) -> ApiResult<u64> {
    with_library(&state, move |lib| lib.browse_count(&b.filter, &b.sort))
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

pub async fn labels(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SchemaArgs>,
) -> ApiResult<Vec<CurrentLabel>> {
    with_library(&state, move |lib| lib.current_labels(id, &q.schema))
        .await
        .map(Json)
}

pub async fn evidence(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SchemaArgs>,
) -> ApiResult<Vec<Evidence>> {
    with_library(&state, move |lib| lib.evidence(id, &q.schema))
        .await
        .map(Json)
}

pub async fn review_status(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SchemaArgs>,
) -> ApiResult<ReviewStatus> {
    with_library(&state, move |lib| lib.review(id, &q.schema))
        .await
        .map(Json)
}

pub async fn schemas(State(state): State<AppState>) -> ApiResult<Vec<Schema>> {
    with_library(&state, |lib| lib.schemas()).await.map(Json)
}

pub async fn splits(State(state): State<AppState>) -> ApiResult<Vec<SplitSummary>> {
    with_library(&state, |lib| lib.splits()).await.map(Json)
}

pub async fn leakage(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LeakageArgs>,
) -> ApiResult<LeakageReport> {
    with_library(&state, move |lib| lib.leakage(&q.split, q.near_distance()))
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

pub async fn evaluate(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<PartArgs>,
) -> ApiResult<EvalReport> {
    with_library(&state, move |lib| lib.evaluate(id, &q.part))
        .await
        .map(Json)
}

pub async fn misclassified(
    State(state): State<AppState>,
    Id(id): Id,
    ApiQuery(q): ApiQuery<CellArgs>,
) -> ApiResult<Vec<Misclassified>> {
    with_library(&state, move |lib| lib.misclassified_cell(id, &q))
        .await
        .map(Json)
}

pub async fn models(State(state): State<AppState>) -> ApiResult<Vec<ModelRecord>> {
    with_library(&state, |lib| lib.models()).await.map(Json)
}

/// The annotator a label is recorded under: on a server with user accounts, the
/// authenticated user, never what the request body says.
fn annotator(user: &Option<Extension<CurrentUser>>, from_body: String) -> String {
    match user {
        Some(Extension(CurrentUser(u))) => u.name.clone(),
        None => from_body,
    }
}

/// The event written, or `null` when the value did not change.
pub async fn set_label(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    ApiJson(b): ApiJson<SetLabelArgs>,
) -> ApiResult<Option<LabelEvent>> {
    let who = annotator(&user, b.annotator);
    with_library_mut(&state, move |lib| {
        lib.set_label(b.pair, &b.schema, &b.class, b.value, &who)
    })
    .await
    .map(Json)
}

/// The event written, or `null` when there was nothing to undo.
pub async fn undo(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    ApiJson(b): ApiJson<AnnotatorArgs>,
) -> ApiResult<Option<LabelEvent>> {
    let who = annotator(&user, b.annotator);
    with_library_mut(&state, move |lib| lib.undo(&who))
        .await
        .map(Json)
}

/// The event written, or `null` when there was nothing to redo.
pub async fn redo(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    ApiJson(b): ApiJson<AnnotatorArgs>,
) -> ApiResult<Option<LabelEvent>> {
    let who = annotator(&user, b.annotator);
    with_library_mut(&state, move |lib| lib.redo(&who))
        .await
        .map(Json)
}

/// Accepting or rejecting a pair needs a reviewer (or an admin) on a server with user
/// accounts; an annotator may flag a pair or clear its status.
pub async fn set_review(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    ApiJson(mut b): ApiJson<SetReviewArgs>,
) -> ApiResult<ReviewStatus> {
    if let Some(Extension(CurrentUser(u))) = &user
        && ["accepted", "rejected"].contains(&b.status.as_str())
        && u.role < Role::Reviewer
    {
        let why = format!(
            "user {:?} is {} and marking a pair {} needs reviewer or above",
            u.name,
            u.role.name(),
            b.status
        );
        eprintln!("pairlab serve: denied POST /api/review: {why}");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why));
    }
    b.annotator = annotator(&user, b.annotator);
    with_library(&state, move |lib| lib.set_review_status(&b))
        .await
        .map(Json)
}
