// Stepping from one pair to the next: within the Browse result the user came from when the
// pair is in it, otherwise by pair id.
import { api } from "../api/api";
import { browseSession } from "./browseSource.svelte";

export async function neighbourPair(id: number, dir: 1 | -1): Promise<number | null> {
  const source = browseSession.source;
  if (source && source.indexOf(id) >= 0) {
    const n = await source.neighbour(id, dir);
    if (n !== null) source.focus = source.indexOf(n);
    return n;
  }
  // By id: the first pair after this one, in the direction asked (the id is the cursor).
  const page = await api.browse({ sort: { by: "id", desc: dir < 0 }, after: String(id), limit: 1 });
  return page.rows[0]?.id ?? null;
}

/** What a position needs of a Browse result. */
export interface Positioned {
  indexOf(id: number): number;
  items: readonly unknown[];
  done: boolean;
  total: number | null;
}

/**
 * Where the pair sits in a Browse result ("12 of 1,851"; "12 of 100+" only while the total
 * is not known yet), or null when it is not in it.
 */
export function positionIn(
  source: Positioned | null,
  id: number,
): { index: number; count: number; more: boolean } | null {
  const index = source ? source.indexOf(id) : -1;
  if (!source || index < 0) return null;
  if (source.total !== null) return { index, count: source.total, more: false };
  return { index, count: source.items.length, more: !source.done };
}

/** Where the pair sits in the Browse result the user came from. */
export function positionInBrowse(id: number): { index: number; count: number; more: boolean } | null {
  return positionIn(browseSession.source, id);
}
