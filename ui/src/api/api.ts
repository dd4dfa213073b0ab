// Typed wrappers over `call`, one per route.
import { call } from "./transport";
import type {
  BrowseArgs, BrowsePage, CellArgs, CurrentLabel, EpochMetrics, ErrorRow, EvalReport, Evidence, Health,
  JobStarted, JobState, LabelEvent, LabelValue, LeakageReport, Misclassified, ModelRecord, PairDetail,
  PairRow, ReviewState, ReviewStatus, RunSummary, Schema, SearchHit, SplitSummary, Stats, TrainArgs,
} from "./types";

export const api = {
  health: () => call<Health>("health"),
  stats: () => call<Stats>("stats"),
  search: (q: string, limit?: number) => call<SearchHit[]>("search", { q, limit }),
  errors: (after?: number, limit?: number) => call<ErrorRow[]>("errors", { after, limit }),
  pairs: (after?: number, limit?: number) => call<PairRow[]>("pairs", { after, limit }),
  browse: (req: BrowseArgs) => call<BrowsePage>("browse", { ...req }),
  pair: (id: number) => call<PairDetail>("pair", { id }),
  history: (id: number) => call<LabelEvent[]>("history", { id }),
  labels: (id: number, schema?: string) => call<CurrentLabel[]>("labels", { id, schema }),
  evidence: (id: number, schema?: string) => call<Evidence[]>("evidence", { id, schema }),
  reviewStatus: (id: number, schema?: string) => call<ReviewStatus>("review_status", { id, schema }),
  schemas: () => call<Schema[]>("schemas"),
  splits: () => call<SplitSummary[]>("splits"),
  leakage: (split: string, near?: number) => call<LeakageReport>("leakage", { split, near }),
  runs: () => call<RunSummary[]>("runs"),
  startTrain: (req: TrainArgs) => call<JobStarted>("start_train", { ...req }),
  run: (id: number) => call<RunSummary>("run", { id }),
  runEpochs: (id: number) => call<EpochMetrics[]>("run_epochs", { id }),
  evaluate: (id: number, part?: string) => call<EvalReport>("evaluate", { id, part }),
  misclassified: (id: number, cell: CellArgs = {}) => call<Misclassified[]>("misclassified", { id, ...cell }),
  models: () => call<ModelRecord[]>("models"),
  setLabel: (pair: number, cls: string, value: LabelValue | null, annotator: string, schema?: string) =>
    call<LabelEvent | null>("set_label", { pair, schema, class: cls, value, annotator }),
  undo: (annotator: string) => call<LabelEvent | null>("undo", { annotator }),
  redo: (annotator: string) => call<LabelEvent | null>("redo", { annotator }),
  setReview: (pair: number, status: Exclude<ReviewState, "pre-labelled">, annotator: string, schema?: string) =>
    call<ReviewStatus>("set_review", { pair, schema, status, annotator }),
  startIndex: (root: string, layout?: string) => call<JobStarted>("start_index", { root, layout }),
  jobs: () => call<JobState[]>("jobs"),
  job: (id: number) => call<JobState>("job", { id }),
  cancelJob: (id: number) => call<JobState>("cancel_job", { id }),
};
