// Library-wide data many views need (stats, schemas, splits, runs, models), loaded once and
// refreshed on demand, e.g. after indexing or training.
import { api } from "../api/api";
import type { ModelRecord, RunSummary, Schema, SplitSummary, Stats } from "../api/types";
import type { LabelIssueReport } from "../bindings/LabelIssueReport";
import { toastError } from "./toast.svelte";

export const meta = $state<{
  stats: Stats | null;
  schemas: Schema[];
  splits: SplitSummary[];
  runs: RunSummary[];
  models: ModelRecord[];
  /** Stored label-issue searches, newest first (without their issues). */
  labelIssues: LabelIssueReport[];
}>({ stats: null, schemas: [], splits: [], runs: [], models: [], labelIssues: [] });

export async function refreshStats(): Promise<void> {
  try {
    meta.stats = await api.stats();
  } catch (e) {
    toastError(e, "Library stats");
  }
}

/** Loads schemas, splits, runs and models; a failing one is reported and left empty. */
export async function refreshMeta(): Promise<void> {
  await Promise.all([refreshSchemas(), refreshLists()]);
}

/** The schemas (the label panel and filters need them first; cheap). */
export async function refreshSchemas(): Promise<void> {
  try {
    meta.schemas = await api.schemas();
  } catch (e) {
    toastError(e, "Schemas");
  }
}

/** Splits (with part sizes: a pass over the split on the server), runs, models and label-issue searches. */
export async function refreshLists(): Promise<void> {
  const [splits, runs, models, issues] = await Promise.allSettled([api.splits(), api.runs(), api.models(), api.labelIssueSets()]);
  if (issues.status === "fulfilled") meta.labelIssues = issues.value;
  if (splits.status === "fulfilled") meta.splits = splits.value;
  if (runs.status === "fulfilled") meta.runs = runs.value;
  if (models.status === "fulfilled") meta.models = models.value;
}
