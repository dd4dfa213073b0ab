// Following a long job: `followJob` reads a job's progress from its event stream, with
// polling as a fallback.
import type { JobState } from "../bindings/JobState";
import { api } from "./api";
import { watchJob } from "./transport";

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
      deliver(await api.job(id));
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
  const all = await api.jobs();
  const running = all.filter((j) => j.kind === kind && j.status === "running");
  return running.length ? running.reduce((a, b) => (b.id > a.id ? b : a)) : null;
}

/** A job's state the moment it is started, until its first event arrives. */
export function startedJob(id: number, kind: string, stage = "starting"): JobState {
  return { id, kind, status: "running", stage, position: 0, total: 0, message: null, cancel_requested: false, subject: null, result: null, error: null };
}

/**
 * Asks the job `current()` shows to stop, and shows the answer through `set` unless the job's
 * stream has moved on meanwhile (its end may be in already: never back to "running").
 * Rejects as `api.cancelJob` does.
 */
export async function cancelShown(current: () => JobState | null, set: (s: JobState) => void): Promise<void> {
  const job = current();
  if (!job) return;
  const answer = await api.cancelJob(job.id);
  const now = current();
  if (now?.id === answer.id && now.status === "running") set(answer);
}

/**
 * Re-attaches a view to the newest running job of `kind` (one started before the view was
 * left): `found` gets it unless `shown()` already shows a job. Errors are left to the next try.
 */
export function reattach(kind: string, shown: () => JobState | null, found: (j: JobState) => void): void {
  runningJob(kind)
    .then((j) => j && !shown() && found(j))
    .catch(() => {});
}
