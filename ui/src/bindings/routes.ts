// Generated from pairlab-core's api::endpoints by `cargo test` (bindings test);
// do not edit. Regenerate: PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings

import type { AddModelArgs } from "./AddModelArgs";
import type { Adjudicated } from "./Adjudicated";
import type { AgreementArgs } from "./AgreementArgs";
import type { AgreementReport } from "./AgreementReport";
import type { AnnotatorArgs } from "./AnnotatorArgs";
import type { AssignOptions } from "./AssignOptions";
import type { AssignSummary } from "./AssignSummary";
import type { BrowseArgs } from "./BrowseArgs";
import type { BrowsePage } from "./BrowsePage";
import type { CellArgs } from "./CellArgs";
import type { ColourArgs } from "./ColourArgs";
import type { CurrentLabel } from "./CurrentLabel";
import type { DemoArgs } from "./DemoArgs";
import type { EpochMetrics } from "./EpochMetrics";
import type { ErrorRow } from "./ErrorRow";
import type { EvalReport } from "./EvalReport";
import type { Evidence } from "./Evidence";
import type { ExportOptions } from "./ExportOptions";
import type { Health } from "./Health";
import type { ImportOptions } from "./ImportOptions";
import type { ImportRecord } from "./ImportRecord";
import type { ImportUndone } from "./ImportUndone";
import type { IndexArgs } from "./IndexArgs";
import type { IssueListArgs } from "./IssueListArgs";
import type { JobStarted } from "./JobStarted";
import type { JobState } from "./JobState";
import type { LabelEvent } from "./LabelEvent";
import type { LabelIssueArgs } from "./LabelIssueArgs";
import type { LabelIssueReport } from "./LabelIssueReport";
import type { LabelerStatus } from "./LabelerStatus";
import type { LeakageArgs } from "./LeakageArgs";
import type { LeakageReport } from "./LeakageReport";
import type { LearnOptions } from "./LearnOptions";
import type { MapColours } from "./MapColours";
import type { MapOptions } from "./MapOptions";
import type { MapPoints } from "./MapPoints";
import type { MapSummary } from "./MapSummary";
import type { Me } from "./Me";
import type { Misclassified } from "./Misclassified";
import type { ModelRecord } from "./ModelRecord";
import type { NextArgs } from "./NextArgs";
import type { NextPair } from "./NextPair";
import type { PageArgs } from "./PageArgs";
import type { PairDetail } from "./PairDetail";
import type { PairPrediction } from "./PairPrediction";
import type { PairRow } from "./PairRow";
import type { PartArgs } from "./PartArgs";
import type { PrelabelArgs } from "./PrelabelArgs";
import type { ResolveDisagreementArgs } from "./ResolveDisagreementArgs";
import type { ResolveIssueArgs } from "./ResolveIssueArgs";
import type { Resolved } from "./Resolved";
import type { ReviewStatus } from "./ReviewStatus";
import type { RunArgs } from "./RunArgs";
import type { RunEstimate } from "./RunEstimate";
import type { RunModelArgs } from "./RunModelArgs";
import type { RunPrelabel } from "./RunPrelabel";
import type { RunSummary } from "./RunSummary";
import type { Schema } from "./Schema";
import type { SchemaArgs } from "./SchemaArgs";
import type { SearchArgs } from "./SearchArgs";
import type { SearchHit } from "./SearchHit";
import type { SetLabelArgs } from "./SetLabelArgs";
import type { SetReviewArgs } from "./SetReviewArgs";
import type { SplitArgs } from "./SplitArgs";
import type { SplitSummary } from "./SplitSummary";
import type { Stats } from "./Stats";
import type { TagPairsArgs } from "./TagPairsArgs";
import type { Tagged } from "./Tagged";
import type { TrainArgs } from "./TrainArgs";

export const ROUTES = {
  health: { method: "GET", path: "/api/health", kind: "json" },
  me: { method: "GET", path: "/api/me", kind: "json" },
  stats: { method: "GET", path: "/api/stats", kind: "json" },
  search: { method: "GET", path: "/api/search", kind: "json" },
  errors: { method: "GET", path: "/api/errors", kind: "json" },
  pairs: { method: "GET", path: "/api/pairs", kind: "json" },
  browse: { method: "POST", path: "/api/browse", kind: "json" },
  browse_count: { method: "POST", path: "/api/browse/count", kind: "json" },
  pair: { method: "GET", path: "/api/pairs/{id}", kind: "json" },
  history: { method: "GET", path: "/api/pairs/{id}/history", kind: "json" },
  labels: { method: "GET", path: "/api/pairs/{id}/labels", kind: "json" },
  pair_prediction: { method: "GET", path: "/api/pairs/{id}/prediction", kind: "json" },
  evidence: { method: "GET", path: "/api/pairs/{id}/evidence", kind: "json" },
  model_evidence: { method: "GET", path: "/api/pairs/{id}/model-evidence", kind: "json" },
  review_status: { method: "GET", path: "/api/pairs/{id}/review", kind: "json" },
  schemas: { method: "GET", path: "/api/schemas", kind: "json" },
  splits: { method: "GET", path: "/api/splits", kind: "json" },
  make_split: { method: "POST", path: "/api/splits", kind: "json" },
  start_prelabel: { method: "POST", path: "/api/prelabel", kind: "json" },
  leakage: { method: "GET", path: "/api/leakage", kind: "json" },
  runs: { method: "GET", path: "/api/runs", kind: "json" },
  start_train: { method: "POST", path: "/api/runs", kind: "json" },
  estimate_train: { method: "POST", path: "/api/runs/estimate", kind: "json" },
  start_label_issues: { method: "POST", path: "/api/label-issues", kind: "json" },
  label_issue_sets: { method: "GET", path: "/api/label-issues", kind: "json" },
  label_issues: { method: "GET", path: "/api/label-issues/{id}", kind: "json" },
  resolve_label_issue: { method: "POST", path: "/api/label-issues/{id}/resolve", kind: "json" },
  labeler_status: { method: "GET", path: "/api/labeler/status", kind: "json" },
  start_learn_labeler: { method: "POST", path: "/api/labeler/learn", kind: "json" },
  run: { method: "GET", path: "/api/runs/{id}", kind: "json" },
  run_epochs: { method: "GET", path: "/api/runs/{id}/epochs", kind: "json" },
  evaluate: { method: "GET", path: "/api/runs/{id}/eval", kind: "json" },
  misclassified: { method: "GET", path: "/api/runs/{id}/misclassified", kind: "json" },
  models: { method: "GET", path: "/api/models", kind: "json" },
  add_model: { method: "POST", path: "/api/models", kind: "json" },
  register_run_model: { method: "POST", path: "/api/runs/{id}/model", kind: "json" },
  prelabel_run: { method: "POST", path: "/api/runs/{id}/prelabel", kind: "json" },
  set_label: { method: "POST", path: "/api/labels", kind: "json" },
  undo: { method: "POST", path: "/api/undo", kind: "json" },
  redo: { method: "POST", path: "/api/redo", kind: "json" },
  set_review: { method: "POST", path: "/api/review", kind: "json" },
  start_export: { method: "POST", path: "/api/exports", kind: "json" },
  start_import_labels: { method: "POST", path: "/api/labels/imports", kind: "json" },
  assign: { method: "POST", path: "/api/assignments", kind: "json" },
  agreement: { method: "GET", path: "/api/agreement", kind: "json" },
  resolve_disagreement: { method: "POST", path: "/api/agreement/resolve", kind: "json" },
  queue_next: { method: "POST", path: "/api/queue/next", kind: "json" },
  start_map: { method: "POST", path: "/api/maps", kind: "json" },
  maps: { method: "GET", path: "/api/maps", kind: "json" },
  map_points: { method: "GET", path: "/api/maps/{id}/points", kind: "json" },
  map_colours: { method: "GET", path: "/api/maps/{id}/colours", kind: "json" },
  tag_pairs: { method: "POST", path: "/api/tags", kind: "json" },
  label_imports: { method: "GET", path: "/api/labels/imports", kind: "json" },
  undo_import: { method: "POST", path: "/api/labels/imports/{id}/undo", kind: "json" },
  start_index: { method: "POST", path: "/api/corpora", kind: "json" },
  start_demo: { method: "POST", path: "/api/demo", kind: "json" },
  jobs: { method: "GET", path: "/api/jobs", kind: "json" },
  job: { method: "GET", path: "/api/jobs/{id}", kind: "json" },
  cancel_job: { method: "POST", path: "/api/jobs/{id}/cancel", kind: "json" },
  image: { method: "GET", path: "/api/pairs/{id}/image", kind: "file" },
  thumb: { method: "GET", path: "/api/pairs/{id}/thumb", kind: "file" },
  job_events: { method: "GET", path: "/api/jobs/{id}/events", kind: "stream" },
} as const;

export type RouteName = keyof typeof ROUTES;

/** Each JSON call's arguments (the path's `id` among them) and answer. */
export interface Calls {
  health: { args: Record<string, never>; answer: Health };
  me: { args: Record<string, never>; answer: Me | null };
  stats: { args: Record<string, never>; answer: Stats };
  search: { args: SearchArgs; answer: Array<SearchHit> };
  errors: { args: PageArgs; answer: Array<ErrorRow> };
  pairs: { args: PageArgs; answer: Array<PairRow> };
  browse: { args: BrowseArgs; answer: BrowsePage };
  browse_count: { args: BrowseArgs; answer: number };
  pair: { args: { id: number }; answer: PairDetail };
  history: { args: { id: number }; answer: Array<LabelEvent> };
  labels: { args: SchemaArgs & { id: number }; answer: Array<CurrentLabel> };
  pair_prediction: { args: RunArgs & { id: number }; answer: PairPrediction };
  evidence: { args: SchemaArgs & { id: number }; answer: Array<Evidence> };
  model_evidence: { args: SchemaArgs & { id: number }; answer: Array<Evidence> };
  review_status: { args: SchemaArgs & { id: number }; answer: ReviewStatus };
  schemas: { args: Record<string, never>; answer: Array<Schema> };
  splits: { args: Record<string, never>; answer: Array<SplitSummary> };
  make_split: { args: SplitArgs; answer: SplitSummary };
  start_prelabel: { args: PrelabelArgs; answer: JobStarted };
  leakage: { args: LeakageArgs; answer: LeakageReport };
  runs: { args: Record<string, never>; answer: Array<RunSummary> };
  start_train: { args: TrainArgs; answer: JobStarted };
  estimate_train: { args: TrainArgs; answer: RunEstimate };
  start_label_issues: { args: LabelIssueArgs; answer: JobStarted };
  label_issue_sets: { args: Record<string, never>; answer: Array<LabelIssueReport> };
  label_issues: { args: IssueListArgs & { id: number }; answer: LabelIssueReport };
  resolve_label_issue: { args: ResolveIssueArgs & { id: number }; answer: Resolved };
  labeler_status: { args: SchemaArgs; answer: LabelerStatus };
  start_learn_labeler: { args: LearnOptions; answer: JobStarted };
  run: { args: { id: number }; answer: RunSummary };
  run_epochs: { args: { id: number }; answer: Array<EpochMetrics> };
  evaluate: { args: PartArgs & { id: number }; answer: EvalReport };
  misclassified: { args: CellArgs & { id: number }; answer: Array<Misclassified> };
  models: { args: Record<string, never>; answer: Array<ModelRecord> };
  add_model: { args: AddModelArgs; answer: ModelRecord };
  register_run_model: { args: RunModelArgs & { id: number }; answer: ModelRecord };
  prelabel_run: { args: { id: number }; answer: RunPrelabel };
  set_label: { args: SetLabelArgs; answer: LabelEvent | null };
  undo: { args: AnnotatorArgs; answer: LabelEvent | null };
  redo: { args: AnnotatorArgs; answer: LabelEvent | null };
  set_review: { args: SetReviewArgs; answer: ReviewStatus };
  start_export: { args: ExportOptions; answer: JobStarted };
  start_import_labels: { args: ImportOptions; answer: JobStarted };
  assign: { args: AssignOptions; answer: AssignSummary };
  agreement: { args: AgreementArgs; answer: AgreementReport };
  resolve_disagreement: { args: ResolveDisagreementArgs; answer: Adjudicated };
  queue_next: { args: NextArgs; answer: NextPair | null };
  start_map: { args: MapOptions; answer: JobStarted };
  maps: { args: Record<string, never>; answer: Array<MapSummary> };
  map_points: { args: { id: number }; answer: MapPoints };
  map_colours: { args: ColourArgs & { id: number }; answer: MapColours };
  tag_pairs: { args: TagPairsArgs; answer: Tagged };
  label_imports: { args: Record<string, never>; answer: Array<ImportRecord> };
  undo_import: { args: AnnotatorArgs & { id: number }; answer: ImportUndone };
  start_index: { args: IndexArgs; answer: JobStarted };
  start_demo: { args: DemoArgs; answer: JobStarted };
  jobs: { args: Record<string, never>; answer: Array<JobState> };
  job: { args: { id: number }; answer: JobState };
  cancel_job: { args: { id: number }; answer: JobState };
}

export type CallName = keyof Calls;
