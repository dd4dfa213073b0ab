// The Browse view's state as a URL query (the part of the hash after "?"), so that a link
// reproduces the view: filters, sort, and optionally an explicit list of pair ids.
import { type BrowseFilter, type BrowseSort, REVIEW_STATES, type SortBy } from "../api/types";

/** The grid's order. `desc` unset means the server's default: ids ascending, scores highest first. */
export interface Sort extends BrowseSort {
  by: SortBy;
}

export interface BrowseQuery {
  filter: BrowseFilter;
  sort: Sort;
  /** Explicit pair ids (e.g. misclassified samples); when set, filters and sort are ignored. */
  pairs: number[] | null;
}

const FILTER_KEYS = ["split", "part", "schema", "class", "value", "source", "review", "tag", "text", "assigned"] as const;
/** Filters that take an id (a corpus, a run, a label-issue search). */
const ID_KEYS = ["corpus", "disagrees", "label_issues"] as const;
const VALUES = ["1", "0", "-1", "blank"];
const REVIEWS: string[] = REVIEW_STATES.map((r) => r.state);
const SORTS = ["id", "mismatch", "confidence", "disagreement", "label-issues"];
/** Orders by a run's score. */
const RUN_SORTS = ["confidence", "disagreement"];

export function emptyQuery(): BrowseQuery {
  return { filter: {}, sort: { by: "id" }, pairs: null };
}

export function parseBrowseQuery(q: URLSearchParams): BrowseQuery {
  const out = emptyQuery();
  for (const key of FILTER_KEYS) {
    const v = q.get(key)?.trim();
    if (!v) continue;
    if (key === "value" && !VALUES.includes(v)) continue;
    if (key === "review" && !REVIEWS.includes(v)) continue;
    (out.filter as Record<string, string>)[key] = v;
  }
  for (const key of ID_KEYS) {
    const n = Number(q.get(key));
    if (q.get(key) && Number.isInteger(n) && n > 0) out.filter[key] = n;
  }
  const by = q.get("sort");
  if (by && SORTS.includes(by)) out.sort.by = by as SortBy;
  const model = q.get("model");
  if (model) out.sort.model = model;
  const run = Number(q.get("run"));
  if (q.get("run") && Number.isInteger(run) && run > 0) out.sort.run = run;
  const issues = Number(q.get("issues"));
  if (q.get("issues") && Number.isInteger(issues) && issues > 0) out.sort.issues = issues;
  const desc = q.get("desc");
  if (desc === "1" || desc === "0") out.sort.desc = desc === "1";
  const pairs = q.get("pairs");
  if (pairs) {
    const ids = pairs
      .split(",")
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
    if (ids.length > 0) out.pairs = ids;
  }
  return out;
}

export function formatBrowseQuery(b: BrowseQuery): URLSearchParams {
  const q = new URLSearchParams();
  if (b.pairs && b.pairs.length > 0) {
    q.set("pairs", b.pairs.join(","));
    return q;
  }
  for (const key of FILTER_KEYS) {
    const v = b.filter[key];
    if (v) q.set(key, v);
  }
  for (const key of ID_KEYS) {
    const v = b.filter[key];
    if (v) q.set(key, String(v));
  }
  if (b.sort.by !== "id") q.set("sort", b.sort.by);
  if (b.sort.by === "mismatch" && b.sort.model) q.set("model", b.sort.model);
  if (RUN_SORTS.includes(b.sort.by) && b.sort.run) q.set("run", String(b.sort.run));
  if (b.sort.by === "label-issues" && b.sort.issues) q.set("issues", String(b.sort.issues));
  if (b.sort.desc !== undefined && b.sort.desc !== defaultDesc(b.sort.by)) q.set("desc", b.sort.desc ? "1" : "0");
  return q;
}

/** The server's direction for an order: ids ascending, scores highest first, a label-issue
 * search's quality score lowest (likeliest wrong) first. */
export function defaultDesc(by: SortBy): boolean {
  return by !== "id" && by !== "label-issues";
}

/** Whether the grid runs highest first. */
export function isDesc(sort: Sort): boolean {
  return sort.desc ?? defaultDesc(sort.by);
}

/** The sort to send; undefined for ascending ids (the default, and all that older servers take). */
export function wireSort(sort: Sort): BrowseSort | undefined {
  if (sort.by === "id" && !isDesc(sort)) return undefined;
  const out: BrowseSort = { by: sort.by };
  if (sort.by === "mismatch" && sort.model) out.model = sort.model;
  if (RUN_SORTS.includes(sort.by) && sort.run) out.run = sort.run;
  if (sort.by === "label-issues" && sort.issues) out.issues = sort.issues;
  if (sort.desc !== undefined && sort.desc !== defaultDesc(sort.by)) out.desc = sort.desc;
  return out;
}

/** The filter with empty fields dropped, or undefined when nothing filters. */
export function wireFilter(filter: BrowseFilter): BrowseFilter | undefined {
  const out: Record<string, string | number> = {};
  for (const key of FILTER_KEYS) {
    const v = filter[key]?.trim();
    if (v) out[key] = v;
  }
  for (const key of ID_KEYS) {
    const v = filter[key];
    if (v) out[key] = v;
  }
  return Object.keys(out).length > 0 ? (out as BrowseFilter) : undefined;
}
