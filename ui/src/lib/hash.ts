// Pure hash-route parsing and formatting: #/view[/id][?query].
export type View = "library" | "browse" | "sample" | "map" | "train" | "evaluate";
export const VIEWS: View[] = ["library", "browse", "sample", "map", "train", "evaluate"];

export interface Route {
  view: View;
  /** Path segment after the view, e.g. the pair id in #/sample/12 or the run id in #/evaluate/3. */
  id: number | null;
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [path, qs = ""] = raw.split("?", 2);
  const [name, idPart] = path.split("/");
  const view = (VIEWS as string[]).includes(name) ? (name as View) : "browse";
  const id = idPart !== undefined && /^\d+$/.test(idPart) ? Number(idPart) : null;
  return { view, id, query: new URLSearchParams(qs) };
}

export function formatHash(view: View, id?: number | null, query?: URLSearchParams | string): string {
  const qs = typeof query === "string" ? query : query?.toString() ?? "";
  return `#/${view}${id != null ? `/${id}` : ""}${qs ? `?${qs}` : ""}`;
}
