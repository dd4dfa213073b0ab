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
  if (dir > 0) return (await api.pairs(id, 1))[0]?.id ?? null;
  // Ids are dense in practice; look back a little way for a gap left by removed pairs.
  for (let k = id - 1; k >= 1 && k >= id - 32; k--) {
    try {
      return (await api.pair(k)).id;
    } catch {
      /* no pair with this id */
    }
  }
  return null;
}

/** Where the pair sits in the Browse result ("12 of 100+"), or null when it is not in it. */
export function positionInBrowse(id: number): { index: number; count: number; more: boolean } | null {
  const source = browseSession.source;
  const index = source ? source.indexOf(id) : -1;
  if (!source || index < 0) return null;
  return { index, count: source.items.length, more: !source.done };
}
