// The review queue of annotators' disagreements (Library → Agreement): the open ones, pair
// by pair, walked in the Sample view, where a reviewer decides each — the value they set
// becomes the pair's label without counting as a rating of theirs — or skips it. The last
// decision is remembered so that an undo takes back its label changes and opens it again.
import { api } from "../api/api";
import type { Disagreement } from "../bindings/Disagreement";

export interface Decided {
  item: Disagreement;
  /** Where it was in the queue. */
  index: number;
  /** Label changes the decision wrote (undone one by one). */
  events: number;
}

export const disagreementQueue = $state<{
  schema: string | null;
  items: Disagreement[];
  index: number;
  /** Decisions made in this session. */
  done: number;
  last: Decided | null;
}>({ schema: null, items: [], index: 0, done: 0, last: null });

/** At most this many open disagreements are loaded at once. */
export const QUEUE_LIMIT = 500;

/** Loads a schema's open disagreements and starts at the first; false when none is open. */
export async function startDisagreements(schema: string): Promise<boolean> {
  const report = await api.agreement(schema, QUEUE_LIMIT, true);
  Object.assign(disagreementQueue, { schema, items: report.disagreements, index: 0, done: 0, last: null });
  return report.disagreements.length > 0;
}

export function stopDisagreements(): void {
  Object.assign(disagreementQueue, { schema: null, items: [], index: 0, last: null });
}

/** The disagreement the queue is at, when it is at one on `pair`. */
export function disagreementAt(pair: number | null): Disagreement | null {
  const item = disagreementQueue.items[disagreementQueue.index];
  return disagreementQueue.schema && item && item.pair_id === pair ? item : null;
}

const WORDS: Record<string, string> = { "1": "positive", "0": "negative", "-1": "uncertain" };

/** A rating's or decision's value in words ("positive"; a multi-class class as it is). */
export function valueWords(value: string): string {
  return WORDS[value] ?? value;
}

/** What a key press on the label panel decides here: the value, or null when the press is
 * not a decision of this disagreement (another class, a blank, a multi-class negative). */
export function decisionOf(item: Disagreement, cls: string, value: number | null): string | null {
  if (value === null) return null;
  if (item.class === null) return value === 1 ? cls : null;
  return item.class === cls ? String(value) : null;
}

/** The distinct values the annotators gave, most given first, each with who gave it. */
export function choices(item: Disagreement): { value: string; who: string[] }[] {
  const by = new Map<string, string[]>();
  for (const r of item.ratings) by.set(r.value, [...(by.get(r.value) ?? []), r.annotator]);
  return [...by.entries()].map(([value, who]) => ({ value, who })).sort((a, b) => b.who.length - a.who.length);
}

/** Moves on; false when the queue is done. */
export function advance(): boolean {
  if (disagreementQueue.index + 1 >= disagreementQueue.items.length) {
    disagreementQueue.index = disagreementQueue.items.length;
    return false;
  }
  disagreementQueue.index += 1;
  return true;
}

/** Decides the queue's current disagreement; remembered for an undo. */
export async function decide(item: Disagreement, value: string, reviewer: string): Promise<void> {
  const schema = disagreementQueue.schema;
  if (!schema) return;
  const index = disagreementQueue.index;
  const r = await api.resolveDisagreement(schema, item.pair_id, item.class, value, reviewer);
  disagreementQueue.last = { item, index, events: r.label_events };
  disagreementQueue.done += 1;
}

/** Takes back the last decision: its label changes undone, the disagreement open again;
 * the queue goes back to it. Returns it, or null when there is none. */
export async function undoDecision(reviewer: string): Promise<Disagreement | null> {
  const [last, schema] = [disagreementQueue.last, disagreementQueue.schema];
  if (!last || !schema) return null;
  for (let i = 0; i < last.events; i++) await api.undo(reviewer);
  await api.resolveDisagreement(schema, last.item.pair_id, last.item.class, null, reviewer);
  disagreementQueue.last = null;
  disagreementQueue.done = Math.max(0, disagreementQueue.done - 1);
  disagreementQueue.index = last.index;
  return last.item;
}
