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

/** Where the pair sits in the Browse result ("12 of 100+"), or null when it is not in it. */
export function positionInBrowse(id: number): { index: number; count: number; more: boolean } | null {
  const source = browseSession.source;
  const index = source ? source.indexOf(id) : -1;
  if (!source || index < 0) return null;
  return { index, count: source.items.length, more: !source.done };
}
