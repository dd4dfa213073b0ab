// The rows behind the Browse grid: keyset pages of the browse route fetched as the grid
// scrolls, or an explicit list of pair ids whose details are fetched as they come into view.
// One source lives on between views, so Sample can step through it and Browse returns to it.
import { api } from "../api/api";
import { ApiError } from "../api/transport";
import type { PairDetail, PairRow } from "../api/types";
import { formatBrowseQuery, wireFilter, wireSort, type BrowseQuery } from "./browseQuery";

export const PAGE = 100;

export interface Item extends PairRow {
  /** List mode: the details are not fetched yet. */
  pending?: boolean;
  /** List mode: there is no pair with this id. */
  notFound?: boolean;
}

function fromDetail(d: PairDetail): Item {
  return {
    id: d.id,
    corpus: d.corpus,
    image: d.image.path,
    thumb: d.image.thumb,
    report_id: d.report?.id ?? null,
    patient: d.patient,
    study: d.study,
    missing: d.image.missing,
    score: null,
    labels: [],
    review: null,
  };
}

function placeholder(id: number): Item {
  return { id, corpus: 0, image: "", thumb: null, report_id: null, patient: null, study: null, missing: false, score: null, labels: [], review: null, pending: true };
}

export class BrowseSource {
  items = $state.raw<Item[]>([]);
  done = $state(false);
  /** How many pairs the query has in all, once known (asked for after the first page). */
  total = $state<number | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  /** Whether trying the same query again can help (not for a query the server refused). */
  retryable = $state(true);
  /** Where the grid was, restored when Browse is shown again. */
  scrollTop = 0;
  focus = 0;

  readonly query: BrowseQuery;
  readonly key: string;
  private cursor: string | null = null;
  private inflight: Promise<void> | null = null;
  private requested = new Set<number>();

  constructor(query: BrowseQuery) {
    this.query = query;
    this.key = formatBrowseQuery(query).toString();
    if (query.pairs) {
      this.items = query.pairs.map(placeholder);
      this.done = true;
      this.total = this.items.length;
    }
  }

  get listMode(): boolean {
    return this.query.pairs !== null;
  }

  /** Loads until at least `count` items are known or the results end. */
  async ensure(count: number): Promise<void> {
    while (!this.done && this.items.length < count && !this.error) {
      await this.loadPage();
    }
  }

  /** Clears a failed page so that the next ensure() tries again. */
  retry(): void {
    this.error = null;
  }

  private loadPage(): Promise<void> {
    this.inflight ??= (async () => {
      this.loading = true;
      try {
        const page = await api.browse({
          filter: wireFilter(this.query.filter),
          sort: wireSort(this.query.sort),
          after: this.cursor ?? undefined,
          limit: PAGE,
        });
        const first = this.cursor === null;
        this.items = [...this.items, ...page.rows];
        this.cursor = page.next;
        this.done = page.next === null || page.rows.length === 0;
        if (this.done) this.total = this.items.length;
        else if (first) void this.countTotal();
      } catch (e) {
        this.error = e instanceof Error ? e.message : String(e);
        const kind = e instanceof ApiError ? e.kind : null;
        this.retryable = !(kind === "invalid" || kind === "not_found" || kind === "forbidden" || kind === "unsupported");
      } finally {
        this.loading = false;
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** Asks for the query's total in the background: the count can take a moment on a
   * large library, and the first page should not wait for it. */
  private async countTotal(): Promise<void> {
    try {
      const n = await api.browseCount({ filter: wireFilter(this.query.filter), sort: wireSort(this.query.sort) });
      if (!this.done) this.total = n;
    } catch {
      // The grid still works without a total: it shows "N+" until its last page.
    }
  }

  /** List mode: fetches the details of the items in [start, end). */
  async fetchDetails(start: number, end: number): Promise<void> {
    const ids = this.items
      .slice(start, end)
      .filter((it) => it.pending && !this.requested.has(it.id))
      .map((it) => it.id);
    if (ids.length === 0) return;
    ids.forEach((id) => this.requested.add(id));
    const results = await Promise.allSettled(ids.map((id) => api.pair(id)));
    const found = new Map<number, Item>();
    results.forEach((r, i) => {
      found.set(ids[i], r.status === "fulfilled" ? fromDetail(r.value) : { ...placeholder(ids[i]), pending: false, notFound: true });
    });
    this.items = this.items.map((it) => found.get(it.id) ?? it);
  }

  indexOf(id: number): number {
    return this.items.findIndex((it) => it.id === id);
  }

  /** The pair after (dir 1) or before (dir -1) `id` in this source; null at an end or if absent. */
  async neighbour(id: number, dir: 1 | -1): Promise<number | null> {
    const i = this.indexOf(id);
    if (i < 0) return null;
    if (dir > 0 && i + 1 >= this.items.length) await this.ensure(i + 2);
    return this.items[i + dir]?.id ?? null;
  }
}

/** The source of the last Browse view, or of a list Sample was opened from (a confusion
 *  cell's samples): Sample steps through it. `returnTo` is where Sample's Back goes when
 *  that is not Browse (the Evaluate view with the cell open). */
export const browseSession = $state<{ source: BrowseSource | null; returnTo: string | null }>({ source: null, returnTo: null });

/** Makes `pairs` the list Sample steps through, starting at `focus`, with Back to `returnTo`. */
export function stepThrough(pairs: number[], focus: number, returnTo: string): void {
  const source = new BrowseSource({ filter: {}, sort: { by: "id" }, pairs });
  source.focus = focus;
  browseSession.source = source;
  browseSession.returnTo = returnTo;
}
