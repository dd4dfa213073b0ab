// Library-wide data many views need (stats, schemas, splits, runs, models), loaded once and
// refreshed on demand, e.g. after indexing or training.
import { api } from "../api/api";
import type { ModelRecord, RunSummary, Schema, SplitSummary, Stats } from "../api/types";
import { toastError } from "./toast.svelte";

export const meta = $state<{
  stats: Stats | null;
  schemas: Schema[];
  splits: SplitSummary[];
  runs: RunSummary[];
  models: ModelRecord[];
}>({ stats: null, schemas: [], splits: [], runs: [], models: [] });

export async function refreshStats(): Promise<void> {
  try {
    meta.stats = await api.stats();
  } catch (e) {
    toastError(e, "Library stats");
  }
}

/** Loads schemas, splits, runs and models; a failing one is reported and left empty. */
export async function refreshMeta(): Promise<void> {
  const [schemas, splits, runs, models] = await Promise.allSettled([
    api.schemas(),
    api.splits(),
    api.runs(),
    api.models(),
  ]);
  if (schemas.status === "fulfilled") meta.schemas = schemas.value;
  else toastError(schemas.reason, "Schemas");
  if (splits.status === "fulfilled") meta.splits = splits.value;
  if (runs.status === "fulfilled") meta.runs = runs.value;
  if (models.status === "fulfilled") meta.models = models.value;
}
