// Typed wrappers over `call` for the shell, Browse and Sample (Library, Train and Evaluate
// use apiJobs.ts).
import { call } from "./transport";
import type {
  BrowseArgs, BrowsePage, CurrentLabel, Evidence, LabelEvent, LabelValue, ModelRecord, PairDetail, PairRow,
  ReviewState, ReviewStatus, RunSummary, Schema, SplitSummary, Stats,
} from "./types";

export const api = {
  stats: () => call<Stats>("stats"),
  pairs: (after?: number, limit?: number) => call<PairRow[]>("pairs", { after, limit }),
  browse: (req: BrowseArgs) => call<BrowsePage>("browse", { ...req }),
  browseCount: (req: BrowseArgs) => call<number>("browse_count", { ...req }),
  pair: (id: number) => call<PairDetail>("pair", { id }),
  history: (id: number) => call<LabelEvent[]>("history", { id }),
  labels: (id: number, schema?: string) => call<CurrentLabel[]>("labels", { id, schema }),
  evidence: (id: number, schema?: string) => call<Evidence[]>("evidence", { id, schema }),
  reviewStatus: (id: number, schema?: string) => call<ReviewStatus>("review_status", { id, schema }),
  schemas: () => call<Schema[]>("schemas"),
  splits: () => call<SplitSummary[]>("splits"),
  runs: () => call<RunSummary[]>("runs"),
  models: () => call<ModelRecord[]>("models"),
  setLabel: (pair: number, cls: string, value: LabelValue | null, annotator: string, schema?: string) =>
    call<LabelEvent | null>("set_label", { pair, schema, class: cls, value, annotator }),
  undo: (annotator: string) => call<LabelEvent | null>("undo", { annotator }),
  redo: (annotator: string) => call<LabelEvent | null>("redo", { annotator }),
  setReview: (pair: number, status: Exclude<ReviewState, "pre-labelled">, annotator: string, schema?: string) =>
    call<ReviewStatus>("set_review", { pair, schema, status, annotator }),
};
