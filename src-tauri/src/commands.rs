//! One command per JSON (and streaming) row of core's route table, named like the row;
//! each takes the route's arguments as `args` (with the path's `id` inside) and makes one
//! call into core. `COMMANDS` lists them for the test that checks them against the table.

use std::time::Duration;

use pairlab_core::api::requests::{
    AnnotatorArgs, BrowseArgs, CellArgs, Health, IndexArgs, JobStarted, LeakageArgs, NoArgs,
    PageArgs, PartArgs, ReviewStatus, SchemaArgs, SearchArgs, SetLabelArgs, SetReviewArgs,
    TrainArgs, WithId,
};
use pairlab_core::browse::BrowsePage;
use pairlab_core::jobs::JobState;
use pairlab_core::labeler::Evidence;
use pairlab_core::labels::{CurrentLabel, LabelEvent, Schema};
use pairlab_core::models::ModelRecord;
use pairlab_core::runs::eval::{EvalReport, Misclassified};
use pairlab_core::runs::{EpochMetrics, RunSummary};
use pairlab_core::splits::{LeakageReport, SplitSummary};
use pairlab_core::store::read::{ErrorRow, PairDetail, PairRow, SearchHit, Stats};
use pairlab_core::{Error, Library, Result};
use tauri::State;
use tauri::ipc::Channel;

use crate::Shell;

/// Opens the library on a blocking thread and makes one call into it.
async fn with_library<T: Send + 'static>(
    shell: &Shell,
    f: impl FnOnce(&mut Library) -> Result<T> + Send + 'static,
) -> Result<T> {
    let dir = shell.library.clone();
    tauri::async_runtime::spawn_blocking(move || Library::open(&dir).and_then(|mut l| f(&mut l)))
        .await
        .map_err(|e| Error::Invalid(format!("worker failed: {e}")))?
}

macro_rules! commands {
    ($($name:ident),* $(,)?) => {
        /// The names of the commands, as the UI invokes them.
        pub const COMMANDS: &[&str] = &[$(stringify!($name)),*];

        /// The invoke handler with every command.
        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }
    };
}

commands![
    health,
    stats,
    search,
    errors,
    pairs,
    browse,
    browse_count,
    pair,
    history,
    labels,
    evidence,
    review_status,
    schemas,
    splits,
    leakage,
    runs,
    start_train,
    run,
    run_epochs,
    evaluate,
    misclassified,
    models,
    set_label,
    undo,
    redo,
    set_review,
    start_index,
    jobs,
    job,
    job_events,
    cancel_job,
];

type S<'a> = State<'a, Shell>;

#[tauri::command]
async fn health() -> Result<Health> {
    Ok(Health::now())
}

#[tauri::command]
async fn stats(shell: S<'_>) -> Result<Stats> {
    with_library(&shell, |lib| lib.stats()).await
}

#[tauri::command]
async fn search(shell: S<'_>, args: SearchArgs) -> Result<Vec<SearchHit>> {
    with_library(&shell, move |lib| lib.search(&args.q, args.page())).await
}

#[tauri::command]
async fn errors(shell: S<'_>, args: Option<PageArgs>) -> Result<Vec<ErrorRow>> {
    let a = args.unwrap_or_default();
    with_library(&shell, move |lib| lib.errors(a.after, a.page())).await
}

#[tauri::command]
async fn pairs(shell: S<'_>, args: Option<PageArgs>) -> Result<Vec<PairRow>> {
    let a = args.unwrap_or_default();
    with_library(&shell, move |lib| lib.pairs(a.after, a.page())).await
}

#[tauri::command]
async fn browse_count(shell: S<'_>, args: Option<BrowseArgs>) -> Result<u64> {
    let a = args.unwrap_or_default();
    with_library(&shell, move |lib| lib.browse_count(&a.filter, &a.sort)).await
}

#[tauri::command]
async fn browse(shell: S<'_>, args: Option<BrowseArgs>) -> Result<BrowsePage> {
    let a = args.unwrap_or_default();
    with_library(&shell, move |lib| {
        lib.browse(&a.filter, &a.sort, a.after.as_deref(), a.page())
    })
    .await
}

#[tauri::command]
async fn pair(shell: S<'_>, args: WithId<NoArgs>) -> Result<PairDetail> {
    with_library(&shell, move |lib| lib.pair(args.id)).await
}

#[tauri::command]
async fn history(shell: S<'_>, args: WithId<NoArgs>) -> Result<Vec<LabelEvent>> {
    with_library(&shell, move |lib| lib.label_history(args.id)).await
}

#[tauri::command]
async fn labels(shell: S<'_>, args: WithId<SchemaArgs>) -> Result<Vec<CurrentLabel>> {
    with_library(&shell, move |lib| {
        lib.current_labels(args.id, &args.rest.schema)
    })
    .await
}

#[tauri::command]
async fn evidence(shell: S<'_>, args: WithId<SchemaArgs>) -> Result<Vec<Evidence>> {
    with_library(&shell, move |lib| lib.evidence(args.id, &args.rest.schema)).await
}

#[tauri::command]
async fn review_status(shell: S<'_>, args: WithId<SchemaArgs>) -> Result<ReviewStatus> {
    with_library(&shell, move |lib| lib.review(args.id, &args.rest.schema)).await
}

#[tauri::command]
async fn schemas(shell: S<'_>) -> Result<Vec<Schema>> {
    with_library(&shell, |lib| lib.schemas()).await
}

#[tauri::command]
async fn splits(shell: S<'_>) -> Result<Vec<SplitSummary>> {
    with_library(&shell, |lib| lib.splits()).await
}

#[tauri::command]
async fn leakage(shell: S<'_>, args: LeakageArgs) -> Result<LeakageReport> {
    with_library(&shell, move |lib| {
        lib.leakage(&args.split, args.near_distance())
    })
    .await
}

#[tauri::command]
async fn runs(shell: S<'_>) -> Result<Vec<RunSummary>> {
    with_library(&shell, |lib| lib.runs()).await
}

#[tauri::command]
async fn start_train(shell: S<'_>, args: TrainArgs) -> Result<JobStarted> {
    shell.jobs.start_train(args)
}

#[tauri::command]
async fn run(shell: S<'_>, args: WithId<NoArgs>) -> Result<RunSummary> {
    with_library(&shell, move |lib| lib.run(args.id)).await
}

#[tauri::command]
async fn run_epochs(shell: S<'_>, args: WithId<NoArgs>) -> Result<Vec<EpochMetrics>> {
    with_library(&shell, move |lib| lib.run_epochs(args.id)).await
}

#[tauri::command]
async fn evaluate(shell: S<'_>, args: WithId<PartArgs>) -> Result<EvalReport> {
    with_library(&shell, move |lib| lib.evaluate(args.id, &args.rest.part)).await
}

#[tauri::command]
async fn misclassified(shell: S<'_>, args: WithId<CellArgs>) -> Result<Vec<Misclassified>> {
    with_library(&shell, move |lib| {
        lib.misclassified_cell(args.id, &args.rest)
    })
    .await
}

#[tauri::command]
async fn models(shell: S<'_>) -> Result<Vec<ModelRecord>> {
    with_library(&shell, |lib| lib.models()).await
}

#[tauri::command]
async fn set_label(shell: S<'_>, args: SetLabelArgs) -> Result<Option<LabelEvent>> {
    with_library(&shell, move |lib| {
        lib.set_label(
            args.pair,
            &args.schema,
            &args.class,
            args.value,
            &args.annotator,
        )
    })
    .await
}

#[tauri::command]
async fn undo(shell: S<'_>, args: AnnotatorArgs) -> Result<Option<LabelEvent>> {
    with_library(&shell, move |lib| lib.undo(&args.annotator)).await
}

#[tauri::command]
async fn redo(shell: S<'_>, args: AnnotatorArgs) -> Result<Option<LabelEvent>> {
    with_library(&shell, move |lib| lib.redo(&args.annotator)).await
}

#[tauri::command]
async fn set_review(shell: S<'_>, args: SetReviewArgs) -> Result<ReviewStatus> {
    with_library(&shell, move |lib| lib.set_review_status(&args)).await
}

#[tauri::command]
async fn start_index(shell: S<'_>, args: IndexArgs) -> Result<JobStarted> {
    shell.jobs.start_index(args)
}

#[tauri::command]
async fn jobs(shell: S<'_>) -> Result<Vec<JobState>> {
    Ok(shell.jobs.all())
}

#[tauri::command]
async fn job(shell: S<'_>, args: WithId<NoArgs>) -> Result<JobState> {
    shell.jobs.state(args.id as u64)
}

/// Shortest gap between two messages of a running job.
const EVENT_GAP: Duration = Duration::from_millis(100);

/// Sends the job's state now and at each change (at most every 100 ms) until it ends.
#[tauri::command]
async fn job_events(shell: S<'_>, args: WithId<NoArgs>, on_event: Channel<JobState>) -> Result<()> {
    let job = shell.jobs.get(args.id as u64)?;
    std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            let (version, state) = job.wait_change(seen, Duration::from_secs(10));
            if version == seen {
                continue;
            }
            seen = version;
            let running = state.is_running();
            if on_event.send(state).is_err() || !running {
                return;
            }
            std::thread::sleep(EVENT_GAP);
        }
    });
    Ok(())
}

#[tauri::command]
async fn cancel_job(shell: S<'_>, args: WithId<NoArgs>) -> Result<JobState> {
    shell.jobs.cancel(args.id as u64)
}
