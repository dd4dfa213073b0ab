//! Every endpoint of the API, declared once: its name, HTTP method and path, the least role
//! that may call it, its arguments, its answer and its call into core. From this list come
//! the route table ([`ROUTES`]), one type per endpoint implementing [`Endpoint`] (which the
//! server routes and the contract suite calls), the Tauri shell's commands (through
//! [`for_each_endpoint!`](crate::for_each_endpoint)) and the UI's typed route map
//! (`ui/src/bindings/routes.ts`).
//!
//! A declaration reads
//! `name { METHOD "/path" role (cx, args: Args[, id]) -> Answer { body } }`:
//! `role` is `any` or the least [`Role`](crate::users::Role); `id` binds the path's `{id}`.
//! The files and the stream at the end are served by each transport its own way (bytes
//! of an image, server-sent events or a Tauri channel).

use super::endpoint::{Call, Endpoint, Visit, call_json, required_id};
use super::library_args::{
    AddModelArgs, AgreementArgs, IssueListArgs, LabelIssueArgs, PrelabelArgs,
    ResolveDisagreementArgs, ResolveIssueArgs, SplitArgs, TagPairsArgs, Tagged,
};
use super::requests::*;
use super::routes::{Kind, Route};
use crate::browse::BrowsePage;
use crate::error::{Error, Result};
use crate::export::ExportOptions;
use crate::jobs::JobState;
use crate::label_issues::{LabelIssueReport, Resolved};
use crate::labels::adjudication::Adjudicated;
use crate::labels::agreement::{AgreementReport, AssignOptions, AssignSummary};
use crate::labels::import::{ImportOptions, ImportRecord, ImportSource, ImportUndone};
use crate::labels::{CurrentLabel, LabelEvent, Schema};
use crate::map::{ColourArgs, MapColours, MapOptions, MapPoints, MapSummary};
use crate::models::ModelRecord;
use crate::queue::{NextArgs, NextPair};
use crate::report_labeler::Evidence;
use crate::runs::eval::{EvalReport, Misclassified};
use crate::runs::{EpochMetrics, PairPrediction, RunSummary};
use crate::runs::{LabelerStatus, LearnOptions, RunEstimate};
use crate::splits::{LeakageReport, SplitSummary};
use crate::store::read::{ErrorRow, PairDetail, PairRow, SearchHit, Stats};
use crate::users::Role;
use serde_json::Value;

/// Calls `$m! { json { … } other { … } }` with every declaration: core defines the
/// endpoints with it and the Tauri shell its commands.
#[macro_export]
macro_rules! for_each_endpoint {
    ($m:ident) => {
        $m! {
            json {
                /// Whether the server runs, and its version.
                health { GET "/health" any (_cx, _a: NoArgs) -> Health { Ok(Health::now()) } }
                /// Who is signed in, and with which role (`null` without user accounts).
                me { GET "/me" any (cx, _a: NoArgs) -> Option<Me> {
                    Ok(cx.user().map(|u| Me { name: u.name.clone(), role: u.role }))
                } }
                /// Counts for the whole library and per corpus.
                stats { GET "/stats" any (cx, _a: NoArgs) -> Stats { cx.library()?.stats() } }
                /// Full-text search over report text.
                search { GET "/search" any (cx, a: SearchArgs) -> Vec<SearchHit> {
                    cx.library()?.search(&a.q, a.page())
                } }
                /// Ingest errors, by keyset page.
                errors { GET "/errors" any (cx, a: PageArgs) -> Vec<ErrorRow> {
                    cx.library()?.errors(a.after, a.page())
                } }
                /// Pairs, by keyset page.
                pairs { GET "/pairs" any (cx, a: PageArgs) -> Vec<PairRow> {
                    cx.library()?.pairs(a.after, a.page())
                } }
                /// One page of the grid.
                browse { POST "/browse" any (cx, a: BrowseArgs) -> BrowsePage {
                    cx.library()?.browse(&a.filter, &a.sort, a.after.as_deref(), a.page())
                } }
                /// How many pairs the grid pages through (the cursor and limit are ignored).
                browse_count { POST "/browse/count" any (cx, a: BrowseArgs) -> u64 {
                    cx.library()?.browse_count(&a.filter, &a.sort)
                } }
                /// Everything about one pair.
                pair { GET "/pairs/{id}" any (cx, _a: NoArgs, id) -> PairDetail {
                    cx.library()?.pair(id)
                } }
                /// A pair's label audit trail, oldest first.
                history { GET "/pairs/{id}/history" any (cx, _a: NoArgs, id) -> Vec<LabelEvent> {
                    cx.library()?.label_history(id)
                } }
                /// A pair's current labels under a schema.
                labels { GET "/pairs/{id}/labels" any (cx, a: SchemaArgs, id) -> Vec<CurrentLabel> {
                    cx.library()?.current_labels(id, &a.schema)
                } }
                /// What a run predicted for the pair: each class's probability, and for
                /// multi-label its threshold.
                pair_prediction { GET "/pairs/{id}/prediction" any (cx, a: RunArgs, id) -> PairPrediction {
                    cx.library()?.pair_prediction(a.run, id)
                } }
                /// Where the report labeler found each label in the pair's report.
                evidence { GET "/pairs/{id}/evidence" any (cx, a: SchemaArgs, id) -> Vec<Evidence> {
                    cx.library()?.evidence(id, &a.schema)
                } }
                /// The report tokens that weighed most in the positive labels of the `text`
                /// and `fusion` runs that pre-labelled the pair.
                model_evidence { GET "/pairs/{id}/model-evidence" any (cx, a: SchemaArgs, id) -> Vec<Evidence> {
                    cx.library()?.model_evidence(id, &a.schema)
                } }
                /// A pair's review status under a schema.
                review_status { GET "/pairs/{id}/review" any (cx, a: SchemaArgs, id) -> ReviewStatus {
                    cx.library()?.review(id, &a.schema)
                } }
                /// All label schemas.
                schemas { GET "/schemas" any (cx, _a: NoArgs) -> Vec<Schema> { cx.library()?.schemas() } }
                /// All splits with their part sizes.
                splits { GET "/splits" any (cx, _a: NoArgs) -> Vec<SplitSummary> { cx.library()?.splits() } }
                /// Makes (or remakes, unless frozen) a named split of every present pair.
                make_split { POST "/splits" Admin (cx, a: SplitArgs) -> SplitSummary {
                    let opts = a.options()?;
                    cx.library()?.make_split(&opts)
                } }
                /// Starts pre-labelling every pair of a schema from the reports (rules),
                /// zero-shot from a CLIP model, or from an image classifier's outputs;
                /// follow it with `job`.
                start_prelabel { POST "/prelabel" Admin (cx, a: PrelabelArgs) -> JobStarted {
                    cx.jobs().start_prelabel(a)
                } }
                /// Patients and (near-)duplicate images shared across a split's parts.
                leakage { GET "/leakage" any (cx, a: LeakageArgs) -> LeakageReport {
                    cx.library()?.leakage(&a.split, a.near())
                } }
                /// All runs, oldest first.
                runs { GET "/runs" any (cx, _a: NoArgs) -> Vec<RunSummary> { cx.library()?.runs() } }
                /// Starts training; follow it with `job` / `job_events`.
                start_train { POST "/runs" Admin (cx, a: TrainArgs) -> JobStarted {
                    cx.jobs().start_train(a)
                } }
                /// What a fine-tuning run would need before it starts: memory, images per
                /// pass, time per epoch (or why it cannot run).
                estimate_train { POST "/runs/estimate" Admin (cx, a: TrainArgs) -> RunEstimate {
                    cx.library()?.estimate_train(&a.options()?)
                } }
                /// Starts a search for likely label errors (patient-grouped fold runs, then
                /// confident learning); follow it with `job` / `job_events`.
                start_label_issues { POST "/label-issues" Admin (cx, a: LabelIssueArgs) -> JobStarted {
                    cx.jobs().start_label_issues(a)
                } }
                /// Every stored label-issue search, newest first, without its issues.
                label_issue_sets { GET "/label-issues" any (cx, _a: NoArgs) -> Vec<LabelIssueReport> {
                    cx.library()?.label_issue_sets()
                } }
                /// One stored label-issue search with its issues, likeliest error first (`open`:
                /// only those not yet reviewed, the review queue).
                label_issues { GET "/label-issues/{id}" any (cx, a: IssueListArgs, id) -> LabelIssueReport {
                    cx.library()?.label_issues(id, a.reading())
                } }
                /// Accepts a flagged row's suggestion (a human label), keeps its given label
                /// (confirmed by hand) or opens it again; the row as it now stands and the
                /// label changes written (what an undo takes back).
                resolve_label_issue { POST "/label-issues/{id}/resolve" Annotator (cx, a: ResolveIssueArgs, id) -> Resolved {
                    let who = cx.annotator(a.annotator);
                    cx.library()?.resolve_label_issue(id, a.pair, &a.class, a.outcome, &who)
                } }
                /// Where a schema's learned report labeler stands (its last run, the human
                /// labels since), for offering to retrain it.
                labeler_status { GET "/labeler/status" any (cx, a: SchemaArgs) -> LabelerStatus {
                    cx.library()?.labeler_status(&a.schema)
                } }
                /// Trains the learned report labeler (a text run on human labels, else the
                /// report rules'); follow it with `job` / `job_events`.
                start_learn_labeler { POST "/labeler/learn" Admin (cx, a: LearnOptions) -> JobStarted {
                    cx.jobs().start_learn_labeler(a)
                } }
                /// One run.
                run { GET "/runs/{id}" any (cx, _a: NoArgs, id) -> RunSummary { cx.library()?.run(id) } }
                /// A run's per-epoch figures so far.
                run_epochs { GET "/runs/{id}/epochs" any (cx, _a: NoArgs, id) -> Vec<EpochMetrics> {
                    cx.library()?.run_epochs(id)
                } }
                /// A run's metrics on one part of its split.
                evaluate { GET "/runs/{id}/eval" any (cx, a: PartArgs, id) -> EvalReport {
                    cx.library()?.evaluate(id, &a.part)
                } }
                /// The samples behind a confusion-matrix cell.
                misclassified { GET "/runs/{id}/misclassified" any (cx, a: CellArgs, id) -> Vec<Misclassified> {
                    cx.library()?.misclassified_cell(id, &a)
                } }
                /// The registered models.
                models { GET "/models" any (cx, _a: NoArgs) -> Vec<ModelRecord> { cx.library()?.models() } }
                /// Registers a model from a folder or file on the library's machine (its
                /// format is detected), or a hub id.
                add_model { POST "/models" Admin (cx, a: AddModelArgs) -> ModelRecord {
                    Ok(cx.library()?.add_model(a.spec.trim(), a.name.as_deref().filter(|n| !n.trim().is_empty()))?.0)
                } }
                /// Registers a finished fine-tuning run's network as an image model (for
                /// embeddings, similarity, duplicates and pre-labelling).
                register_run_model { POST "/runs/{id}/model" Admin (cx, a: RunModelArgs, id) -> ModelRecord {
                    cx.library()?.add_model_from_run(id, a.name.as_deref())
                } }
                /// Pre-labels every pair of a finished run's split from its predictions
                /// (source `model:run-<id>`; human labels stay current).
                prelabel_run { POST "/runs/{id}/prelabel" Admin (cx, _a: NoArgs, id) -> RunPrelabel {
                    let (source, pairs) = cx.library()?.prelabel_from_run(id)?;
                    Ok(RunPrelabel { run: id, source, pairs })
                } }
                /// Sets or blanks one class of a pair: the event written, or `null` when the
                /// value did not change.
                set_label { POST "/labels" Annotator (cx, a: SetLabelArgs) -> Option<LabelEvent> {
                    let who = cx.annotator(a.annotator);
                    cx.library()?.set_label(a.pair, &a.schema, &a.class, a.value, &who)
                } }
                /// Undoes the annotator's latest change (`null`: nothing to undo).
                undo { POST "/undo" Annotator (cx, a: AnnotatorArgs) -> Option<LabelEvent> {
                    cx.library()?.undo(&cx.annotator(a.annotator))
                } }
                /// Redoes the annotator's latest undo (`null`: nothing to redo).
                redo { POST "/redo" Annotator (cx, a: AnnotatorArgs) -> Option<LabelEvent> {
                    cx.library()?.redo(&cx.annotator(a.annotator))
                } }
                /// Records a review decision on a pair; accepting or rejecting, and taking
                /// back an accept or a reject, need a reviewer.
                set_review { POST "/review" Annotator (cx, a: SetReviewArgs) -> ReviewStatus {
                    if ["accepted", "rejected"].contains(&a.status.as_str()) {
                        cx.require(Role::Reviewer, &format!("marking a pair {}", a.status))?;
                    }
                    if a.status == "unreviewed" {
                        let now = cx.library()?.review_status(a.pair, &a.schema)?;
                        if ["accepted", "rejected"].contains(&now.as_str()) {
                            cx.require(Role::Reviewer, &format!("taking back a pair's {now}"))?;
                        }
                    }
                    let a = SetReviewArgs { annotator: cx.annotator(a.annotator.clone()), ..a };
                    cx.library()?.set_review_status(&a)
                } }
                /// Starts an export (Hugging Face Parquet, ImageFolder, CheXpert CSV, JSONL,
                /// CSV) into a folder on the library's machine; follow it with `job`.
                start_export { POST "/exports" Admin (cx, a: ExportOptions) -> JobStarted {
                    cx.jobs().start_export(a)
                } }
                /// Starts importing a label file (a path on the library's machine, or its
                /// uploaded content); follow it with `job`.
                start_import_labels { POST "/labels/imports" Admin (cx, a: ImportOptions) -> JobStarted {
                    let a = match a.source {
                        ImportSource::Human => ImportOptions {
                            annotator: Some(cx.annotator(a.annotator.clone().unwrap_or_default())),
                            ..a
                        },
                        ImportSource::Import => a,
                    };
                    cx.jobs().start_import_labels(a)
                } }
                /// Assigns pairs to annotators (a fraction to two, for double labelling); the
                /// pairs' earlier assignments are replaced.
                assign { POST "/assignments" Admin (cx, a: AssignOptions) -> AssignSummary {
                    cx.library()?.assign(&a)
                } }
                /// Inter-annotator agreement: Cohen's kappa per class for each two
                /// annotators, Fleiss' kappa with more, and the disagreements.
                agreement { GET "/agreement" any (cx, a: AgreementArgs) -> AgreementReport {
                    cx.library()?.agreement(&a.schema, a.limit.unwrap_or(500), a.open)
                } }
                /// A reviewer decides a disagreement between annotators: the value becomes
                /// the shared human label (not a rating of the reviewer's), or, without a
                /// value, the disagreement opens again; it as it now stands and the label
                /// changes written (what an undo takes back).
                resolve_disagreement { POST "/agreement/resolve" Reviewer (cx, a: ResolveDisagreementArgs) -> Adjudicated {
                    let who = cx.annotator(a.annotator.clone());
                    cx.library()?.resolve_disagreement(a.decision(&who))
                } }
                /// The pair to label next: unlabelled, one the latest run is unsure of, spread
                /// out, never one served to another annotator in the last 15 minutes
                /// (`null`: nothing left).
                queue_next { POST "/queue/next" Annotator (cx, a: NextArgs) -> Option<NextPair> {
                    let a = NextArgs { annotator: cx.annotator(a.annotator.clone()), ..a };
                    cx.library()?.next_pair(&a)
                } }
                /// Starts a 2-D map of a model's image or report embeddings (PCA, or UMAP as a
                /// job with progress; the same inputs answer the kept map).
                start_map { POST "/maps" Admin (cx, a: MapOptions) -> JobStarted { cx.jobs().start_map(a) } }
                /// Every kept map, newest first.
                maps { GET "/maps" any (cx, _a: NoArgs) -> Vec<MapSummary> { cx.library()?.maps() } }
                /// A map's points, pair by pair.
                map_points { GET "/maps/{id}/points" any (cx, _a: NoArgs, id) -> MapPoints { cx.library()?.map_points(id) } }
                /// The colours of a map's points: a label, its source, a split's part, a
                /// mismatch or label-issue score.
                map_colours { GET "/maps/{id}/colours" any (cx, a: ColourArgs, id) -> MapColours {
                    cx.library()?.map_colours(id, &a)
                } }
                /// Tags pairs by hand (a map's selection); the Browse tag filter finds them.
                tag_pairs { POST "/tags" Annotator (cx, a: TagPairsArgs) -> Tagged {
                    let pairs = cx.library()?.tag_pairs(&a.name, &a.pairs)?;
                    Ok(Tagged { name: a.name.trim().to_string(), pairs })
                } }
                /// Every label import, newest first.
                label_imports { GET "/labels/imports" any (cx, _a: NoArgs) -> Vec<ImportRecord> {
                    cx.library()?.label_imports()
                } }
                /// Undoes a whole label import (refused when one of its labels changed since).
                undo_import { POST "/labels/imports/{id}/undo" Admin (cx, a: AnnotatorArgs, id) -> ImportUndone {
                    cx.library()?.undo_import(id, &cx.annotator(a.annotator))
                } }
                /// Starts indexing a corpus folder; follow it with `job` / `job_events`.
                start_index { POST "/corpora" Admin (cx, a: IndexArgs) -> JobStarted {
                    cx.jobs().start_index(a)
                } }
                /// Writes the built-in demo corpus into the library and runs the demo on it
                /// (index, pre-label, split, train, evaluate); follow it with `job`.
                start_demo { POST "/demo" Admin (cx, a: DemoArgs) -> JobStarted {
                    cx.jobs().start_demo(a)
                } }
                /// The jobs of this process.
                jobs { GET "/jobs" any (cx, _a: NoArgs) -> Vec<JobState> { Ok(cx.jobs().all()) } }
                /// One job's state.
                job { GET "/jobs/{id}" any (cx, _a: NoArgs, id) -> JobState { cx.jobs().state(id as u64) } }
                /// Asks a job to stop; it stops at its next unit of work.
                cancel_job { POST "/jobs/{id}/cancel" Admin (cx, _a: NoArgs, id) -> JobState {
                    cx.jobs().cancel(id as u64)
                } }
            }
            other {
                /// A pair's image (by pair id, never by a client's path).
                image { GET "/pairs/{id}/image" File }
                /// A pair's thumbnail.
                thumb { GET "/pairs/{id}/thumb" File }
                /// A job's state now and at each change until it ends.
                job_events { GET "/jobs/{id}/events" Stream }
            }
        }
    };
}

macro_rules! role {
    (any) => {
        None
    };
    ($role:ident) => {
        Some(Role::$role)
    };
}

macro_rules! takes_id {
    () => {
        false
    };
    ($id:ident) => {
        true
    };
}

macro_rules! define_endpoints {
    (
        json { $(
            $(#[doc = $doc:literal])*
            $name:ident { $method:ident $path:literal $role:ident
                ($cx:ident, $args:tt : $Args:ty $(, $id:ident)?) -> $Answer:ty $body:block }
        )* }
        other { $(
            $(#[doc = $odoc:literal])*
            $oname:ident { $omethod:ident $opath:literal $okind:ident }
        )* }
    ) => {
        /// One type per JSON endpoint, named like it (types only: no values to mistake
        /// for a variable of the same name).
        #[allow(non_camel_case_types, reason = "each type is named like its endpoint")]
        pub mod endpoint_types {
            $( $(#[doc = $doc])* pub enum $name {} )*
        }
        pub use endpoint_types::*;

        $(
            impl Endpoint for $name {
                const ROUTE: Route = Route {
                    name: stringify!($name),
                    method: stringify!($method),
                    path: $path,
                    kind: Kind::Json,
                    role: role!($role),
                };
                const TAKES_ID: bool = takes_id!($($id)?);
                type Args = $Args;
                type Answer = $Answer;

                fn call($cx: &Call<'_>, _id: Option<i64>, $args: $Args) -> Result<$Answer> {
                    $( let $id = required_id(stringify!($name), _id)?; )?
                    $body
                }
            }
        )*

        /// Every call of the API: the JSON endpoints, then the files and the stream.
        pub const ROUTES: &[Route] = &[
            $( <$name as Endpoint>::ROUTE, )*
            $( Route {
                name: stringify!($oname),
                method: stringify!($omethod),
                path: $opath,
                kind: Kind::$okind,
                role: None,
            }, )*
        ];

        /// Does `v`'s work once per JSON endpoint, in declaration order.
        pub fn visit(v: &mut impl Visit) {
            $( v.endpoint::<$name>(); )*
        }

        /// Calls the JSON endpoint `name` with JSON arguments (the path's `id` inside them).
        pub fn call_by_name(
            cx: &Call<'_>,
            name: &str,
            args: Value,
        ) -> Result<Box<serde_json::value::RawValue>> {
            match name {
                $( stringify!($name) => call_json::<$name>(cx, args), )*
                other => Err(Error::NotFound(format!(
                    "no such call: {:?}",
                    other.chars().take(64).collect::<String>()
                ))),
            }
        }
    };
}

crate::for_each_endpoint!(define_endpoints);

#[cfg(test)]
mod tests {
    use super::*;

    /// The declaration's `id` matches the path's `{id}`: a route with one always gets it.
    #[test]
    fn endpoints_take_the_id_exactly_when_their_path_has_one() {
        struct Check(Vec<&'static str>);
        impl Visit for Check {
            fn endpoint<E: Endpoint>(&mut self) {
                if E::TAKES_ID != E::ROUTE.path.contains("{id}") {
                    self.0.push(E::ROUTE.name);
                }
            }
        }
        let mut check = Check(Vec::new());
        visit(&mut check);
        assert!(check.0.is_empty(), "{:?}", check.0);
    }

    #[test]
    fn a_call_by_name_parses_its_arguments_and_refuses_unknown_names() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let jobs = crate::jobs::Jobs::new(tmp.path().join("lib"));
        let cx = Call::new(&jobs, None);
        let json = |name: &str, args: Value| -> Result<Value> {
            let text = call_by_name(&cx, name, args)?;
            serde_json::from_str(text.get()).map_err(|e| Error::Invalid(e.to_string()))
        };
        assert_eq!(json("health", Value::Null)?["status"], "ok");
        assert_eq!(json("stats", serde_json::json!({}))?["pairs"], 0);
        let kind = |r: Result<Box<serde_json::value::RawValue>>| r.map_err(|e| e.kind()).err();
        assert_eq!(
            kind(call_by_name(&cx, "nope", Value::Null)),
            Some("not_found")
        );
        let no_id = call_by_name(&cx, "pair", serde_json::json!({}));
        assert_eq!(kind(no_id), Some("invalid"));
        let bad_id = call_by_name(&cx, "pair", serde_json::json!({"id": -3}));
        assert_eq!(kind(bad_id), Some("invalid"));
        let missing = call_by_name(&cx, "pair", serde_json::json!({"id": 5}));
        assert_eq!(kind(missing), Some("not_found"));
        let args = call_by_name(&cx, "search", serde_json::json!({"limit": 3}));
        assert_eq!(kind(args), Some("invalid"), "search needs q");
        Ok(())
    }
}
