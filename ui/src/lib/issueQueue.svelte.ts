// The review queue of a label-issue search: its open rows (likeliest error first), walked
// one at a time in the Sample view, where each is accepted, kept or skipped. The last act
// is remembered so that an undo takes back its label changes and puts the row back.
import { api } from "../api/api";
import type { LabelIssue } from "../bindings/LabelIssue";
import type { LabelIssueReport } from "../bindings/LabelIssueReport";

export interface QueueAct {
  issue: LabelIssue;
  /** Where it was in the queue. */
  index: number;
  /** Label changes the act wrote (undone one by one). */
  events: number;
}

export const issueQueue = $state<{
  report: LabelIssueReport | null;
  items: LabelIssue[];
  index: number;
  /** Rows reviewed in this session (beside those reviewed before, in `report.resolved`). */
  done: number;
  last: QueueAct | null;
}>({ report: null, items: [], index: 0, done: 0, last: null });

/** Loads a search's open rows and starts at the first; false when none is open. */
export async function startQueue(id: number): Promise<boolean> {
  const report = await api.labelIssues(id, true);
  issueQueue.report = report;
  issueQueue.items = report.issues;
  issueQueue.index = 0;
  issueQueue.done = 0;
  issueQueue.last = null;
  return report.issues.length > 0;
}

export function stopQueue(): void {
  issueQueue.report = null;
  issueQueue.items = [];
  issueQueue.last = null;
}

/** The row the queue is at, when it is at one on `pair`. */
export function queueItem(pair: number | null): LabelIssue | null {
  const item = issueQueue.items[issueQueue.index];
  return issueQueue.report && item && item.pair_id === pair ? item : null;
}

/** A row's change in words: "Cardiomegaly 1 → 0", or "dark → bright" (multi-class). */
export function describe(issue: LabelIssue): string {
  return issue.suggested_class ? `${issue.class} → ${issue.suggested_class}` : `${issue.class} ${issue.given} → ${issue.suggested}`;
}
