// "Label next" mode of the Sample view: `j` (and the button) ask the server's queue for the
// next pair to label (unlabelled, one the latest run is unsure of, spread out, never served
// to two annotators at once) instead of stepping through Browse. After RETRAIN_AFTER newly
// labelled pairs it offers to retrain, so the queue follows a fresher model.
import { api } from "../api/api";
import type { NextPair } from "../bindings/NextPair";

export const RETRAIN_AFTER = 20;

export const labelNext = $state<{ active: boolean; current: NextPair | null; labelled: number[]; offeredAt: number }>({
  active: false,
  current: null,
  labelled: [],
  /** The count at which retraining was last offered (offered once per RETRAIN_AFTER). */
  offeredAt: 0,
});

/** True once each time another RETRAIN_AFTER pairs have been labelled. */
export function retrainDue(): boolean {
  const n = labelNext.labelled.length;
  if (n < labelNext.offeredAt + RETRAIN_AFTER) return false;
  labelNext.offeredAt = n - (n % RETRAIN_AFTER);
  return true;
}

/** Asks for the next pair; null when the queue is empty. */
export async function fetchNext(schema: string, annotator: string): Promise<NextPair | null> {
  const next = await api.queueNext(schema, annotator);
  labelNext.active = true;
  labelNext.current = next;
  return next;
}

/** Notes a pair labelled in this mode (each pair counts once). */
export function noteLabelled(pair: number): void {
  if (labelNext.active && !labelNext.labelled.includes(pair)) labelNext.labelled = [...labelNext.labelled, pair];
}

export function stopLabelNext(): void {
  labelNext.active = false;
  labelNext.current = null;
  labelNext.labelled = [];
  labelNext.offeredAt = 0;
}
