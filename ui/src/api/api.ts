// Every backend call the views make, grouped by resource. `call` is typed from the
// generated route map (../bindings/routes.ts), so each wrapper only names its arguments.
import type { ExportOptions } from "../bindings/ExportOptions";
import type { AddModelArgs } from "../bindings/AddModelArgs";
import type { ImportOptions } from "../bindings/ImportOptions";
import type { PrelabelArgs } from "../bindings/PrelabelArgs";
import type { SplitArgs } from "../bindings/SplitArgs";
import type { LabelIssueArgs } from "../bindings/LabelIssueArgs";
import type { Outcome } from "../bindings/Outcome";
import type { AssignOptions } from "../bindings/AssignOptions";
import type { MapOptions } from "../bindings/MapOptions";
import type { ColourArgs } from "../bindings/ColourArgs";
import { call } from "./transport";
import type { BrowseArgs, CellArgs, IndexArgs, LabelValue, ReviewDecision, TrainArgs } from "./types";

export const api = {
  // The library
  me: () => call("me"),
  stats: () => call("stats"),
  schemas: () => call("schemas"),
  models: () => call("models"),
  errors: (after?: number, limit?: number) => call("errors", { after, limit }),
  startIndex: (args: IndexArgs) => call("start_index", { ...args }),
  startDemo: (patients?: number) => call("start_demo", { patients }),
  health: () => call("health"),
  startExport: (opts: ExportOptions) => call("start_export", { ...opts }),
  makeSplit: (args: SplitArgs) => call("make_split", { ...args }),
  startPrelabel: (args: PrelabelArgs) => call("start_prelabel", { ...args }),
  addModel: (args: AddModelArgs) => call("add_model", { ...args }),
  startImportLabels: (opts: ImportOptions) => call("start_import_labels", { ...opts }),
  labelImports: () => call("label_imports"),
  assign: (opts: AssignOptions) => call("assign", { ...opts }),
  agreement: (schema?: string, limit?: number, open?: boolean) => call("agreement", { schema, limit, open }),
  /** A reviewer decides a disagreement (`value` null: open it again). */
  resolveDisagreement: (schema: string, pair: number, cls: string | null, value: string | null, annotator: string) =>
    call("resolve_disagreement", { schema, pair, class: cls ?? undefined, value: value ?? undefined, annotator }),
  queueNext: (schema: string, annotator: string) => call("queue_next", { schema, annotator }),
  startMap: (opts: MapOptions) => call("start_map", { ...opts }),
  maps: () => call("maps"),
  mapPoints: (id: number) => call("map_points", { id }),
  mapColours: (id: number, args: ColourArgs) => call("map_colours", { id, ...args }),
  tagPairs: (name: string, pairs: number[]) => call("tag_pairs", { name, pairs }),
  undoImport: (id: number, annotator: string) => call("undo_import", { id, annotator }),

  // Pairs
  pairs: (after?: number, limit?: number) => call("pairs", { after, limit }),
  browse: (req: BrowseArgs) => call("browse", { ...req }),
  browseCount: (req: BrowseArgs) => call("browse_count", { ...req }),
  pair: (id: number) => call("pair", { id }),

  // Labels and review
  history: (id: number) => call("history", { id }),
  labels: (id: number, schema?: string) => call("labels", { id, schema }),
  evidence: (id: number, schema?: string) => call("evidence", { id, schema }),
  modelEvidence: (id: number, schema?: string) => call("model_evidence", { id, schema }),
  setLabel: (pair: number, cls: string, value: LabelValue | null, annotator: string, schema?: string) =>
    call("set_label", { pair, schema, class: cls, value, annotator }),
  undo: (annotator: string) => call("undo", { annotator }),
  redo: (annotator: string) => call("redo", { annotator }),
  pairPrediction: (id: number, run: number) => call("pair_prediction", { id, run }),
  reviewStatus: (id: number, schema?: string) => call("review_status", { id, schema }),
  setReview: (pair: number, status: ReviewDecision | "unreviewed", annotator: string, schema?: string) =>
    call("set_review", { pair, schema, status, annotator }),

  // Splits
  splits: () => call("splits"),
  leakage: (split: string, near?: number) => call("leakage", { split, near }),

  // Runs and evaluation
  runs: () => call("runs"),
  run: (id: number) => call("run", { id }),
  runEpochs: (id: number) => call("run_epochs", { id }),
  startTrain: (args: TrainArgs) => call("start_train", { ...args }),
  startLabelIssues: (args: LabelIssueArgs) => call("start_label_issues", { ...args }),
  labelIssueSets: () => call("label_issue_sets"),
  labelIssues: (id: number, open?: boolean, limit?: number) => call("label_issues", { id, open, limit }),
  resolveLabelIssue: (id: number, pair: number, cls: string, outcome: Outcome, annotator: string) =>
    call("resolve_label_issue", { id, pair, class: cls, outcome, annotator }),
  estimateTrain: (args: TrainArgs) => call("estimate_train", { ...args }),
  registerRunModel: (id: number, name?: string) => call("register_run_model", { id, name }),
  prelabelRun: (id: number) => call("prelabel_run", { id }),
  evaluate: (id: number, part?: string) => call("evaluate", { id, part }),
  misclassified: (id: number, cell: CellArgs) => call("misclassified", { id, ...cell }),
  labelerStatus: (schema: string) => call("labeler_status", { schema }),
  learnLabeler: (schema: string, textModel?: string) => call("start_learn_labeler", { schema, text_model: textModel }),

  // Jobs (follow one with `followJob` in jobs.ts)
  jobs: () => call("jobs"),
  job: (id: number) => call("job", { id }),
  cancelJob: (id: number) => call("cancel_job", { id }),
};
