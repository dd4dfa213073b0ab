// Typed wrappers for the Library, Train and Evaluate views, on the generated bindings, and
// `followJob`: a job's progress from its event stream, with polling as a fallback.
import type { CellArgs } from "../bindings/CellArgs";
import type { EpochMetrics } from "../bindings/EpochMetrics";
import type { ErrorRow } from "../bindings/ErrorRow";
import type { EvalReport } from "../bindings/EvalReport";
import type { IndexArgs } from "../bindings/IndexArgs";
import type { JobStarted } from "../bindings/JobStarted";
import type { JobState } from "../bindings/JobState";
import type { LeakageReport } from "../bindings/LeakageReport";
import type { Misclassified } from "../bindings/Misclassified";
import type { RunSummary } from "../bindings/RunSummary";
import type { TrainArgs } from "../bindings/TrainArgs";
import { api } from "./api";
import { call, watchJob } from "./transport";

export const jobsApi = {
  stats: api.stats,
  schemas: api.schemas,
  splits: api.splits,
  models: api.models,
  leakage: (split: string, near?: number) => call<LeakageReport>("leakage", { split, near }),
  errors: (after?: number, limit?: number) => call<ErrorRow[]>("errors", { after, limit }),
  startIndex: (args: IndexArgs) => call<JobStarted>("start_index", { ...args }),
  startTrain: (args: TrainArgs) => call<JobStarted>("start_train", { ...args }),
  runs: () => call<RunSummary[]>("runs"),
  run: (id: number) => call<RunSummary>("run", { id }),
  runEpochs: (id: number) => call<EpochMetrics[]>("run_epochs", { id }),
  evaluate: (id: number, part?: string) => call<EvalReport>("evaluate", { id, part }),
  misclassified: (id: number, cell: CellArgs) => call<Misclassified[]>("misclassified", { id, ...cell }),
  jobs: () => call<JobState[]>("jobs"),
  job: (id: number) => call<JobState>("job", { id }),
  cancelJob: (id: number) => call<JobState>("cancel_job", { id }),
};

export function isFinished(s: JobState): boolean {
  return s.status !== "running";
}

/** The error of a failed or cancelled job as one line. */
export function jobError(s: JobState): string | null {
  const e = s.error as { kind?: unknown; message?: unknown } | string | null;
  if (!e) return null;
  if (typeof e === "string") return e;
  return String(e.message ?? e.kind ?? JSON.stringify(e));
}

/**
 * Follows a job until it ends: every state from its event stream, and a poll of `job` whenever
 * the stream has been quiet for `quietMs` (a dropped connection, a proxy that buffers). `cb`
 * gets the final state once. Returns a stop function.
 */
export function followJob(id: number, cb: (s: JobState) => void, quietMs = 1000): () => void {
  let stopped = false;
  let last = Date.now();
  let ended = false;
  const deliver = (s: JobState) => {
    if (stopped || ended) return;
    last = Date.now();
    if (isFinished(s)) ended = true;
    cb(s);
    if (ended) stop();
  };
  const unwatch = watchJob(id, (s) => deliver(s as JobState));
  const timer = setInterval(async () => {
    if (stopped || Date.now() - last < quietMs) return;
    try {
      deliver(await jobsApi.job(id));
    } catch {
      // The next tick tries again.
    }
  }, 500);
  function stop() {
    stopped = true;
    clearInterval(timer);
    unwatch();
  }
  return stop;
}

/** The newest running job of a kind (to re-attach after the view was left), or null. */
export async function runningJob(kind: string): Promise<JobState | null> {
  const all = await jobsApi.jobs();
  const running = all.filter((j) => j.kind === kind && j.status === "running");
  return running.length ? running.reduce((a, b) => (b.id > a.id ? b : a)) : null;
}
