// The one transport module: every backend call goes through `call`. In the Tauri window it
// invokes the command of the same name; in a browser it uses the route table over HTTP.
import { ROUTES, type CallName, type Calls, type RouteName } from "../bindings/routes";
import type { ErrorKind } from "../bindings/ErrorKind";
import type { JobState } from "./types";

export type Args = Record<string, unknown>;

/**
 * The backend's error shape, `{kind, message, field?}`, as one exception class. `kind` is
 * one of core's kinds (generated `ErrorKind`); `field` names the argument that was refused.
 */
export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly status: number | null;
  readonly field: string | null;
  constructor(kind: ErrorKind, message: string, status: number | null = null, field: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.field = field;
  }
}

interface TauriChannel<T> {
  onmessage: (message: T) => void;
}
interface TauriGlobal {
  core: {
    invoke(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
    Channel: new <T>() => TauriChannel<T>;
  };
}

function tauri(): TauriGlobal | undefined {
  return (globalThis as { window?: { __TAURI__?: TauriGlobal } }).window?.__TAURI__;
}

export function isTauri(): boolean {
  return tauri() !== undefined;
}

const TOKEN_KEY = "pairlab.token";

/** Keeps a `?token=T` from the page URL for this browser session. */
export function captureToken(search: string, storage: Pick<Storage, "setItem">): void {
  const token = new URLSearchParams(search).get("token");
  if (token) storage.setItem(TOKEN_KEY, token);
}

/** Remembers a token typed into the sign-in prompt, for this browser tab. */
export function setToken(t: string, storage: Pick<Storage, "setItem"> = sessionStorage): void {
  storage.setItem(TOKEN_KEY, t.trim());
}

const unauthorizedListeners = new Set<() => void>();

/** Calls `f` whenever the server wants a token (HTTP 401); returns the unsubscribe. */
export function onUnauthorized(f: () => void): () => void {
  unauthorizedListeners.add(f);
  return () => unauthorizedListeners.delete(f);
}

function token(): string | null {
  try {
    return globalThis.sessionStorage?.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null;
  }
}

if (typeof location !== "undefined" && typeof sessionStorage !== "undefined") {
  captureToken(location.search, sessionStorage);
  // Kept for this tab; take it out of the address bar (history, copied links).
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url);
  }
}

export interface HttpRequest {
  method: "GET" | "POST";
  url: string;
  body?: string;
}

/** Maps a route name and its args to an HTTP request (path params, query or JSON body). */
export function buildRequest(name: RouteName, args: Args = {}): HttpRequest {
  const route = ROUTES[name];
  const rest: Args = { ...args };
  const path = route.path.replace(/\{(\w+)\}/g, (_, key: string) => {
    const v = rest[key];
    if (v === undefined || v === null) throw new ApiError("invalid", `${name}: missing ${key}`);
    delete rest[key];
    return encodeURIComponent(String(v));
  });
  if (route.method === "GET") {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(rest)) {
      if (v === undefined || v === null) continue;
      q.append(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const qs = q.toString();
    return { method: "GET", url: qs ? `${path}?${qs}` : path };
  }
  return { method: "POST", url: path, body: JSON.stringify(rest) };
}

/** Turns whatever a call failed with into an ApiError. */
export function toApiError(e: unknown, status: number | null = null): ApiError {
  if (e instanceof ApiError) return e;
  if (e && typeof e === "object" && "kind" in e && "message" in e) {
    const o = e as { kind: unknown; message: unknown; field?: unknown };
    const field = typeof o.field === "string" ? o.field : null;
    return new ApiError(String(o.kind) as ErrorKind, String(o.message), status, field);
  }
  if (e instanceof Error) return new ApiError("network", e.message, status);
  return new ApiError("internal", String(e), status);
}

async function http<T>(req: HttpRequest): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (req.body !== undefined) headers["Content-Type"] = "application/json";
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let res: Response;
  try {
    res = await fetch(req.url, { method: req.method, headers, body: req.body });
  } catch (e) {
    throw new ApiError("network", `cannot reach the Pairlab server (${e instanceof Error ? e.message : e})`);
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new ApiError("http", `${req.url}: response is not JSON`, res.status);
    }
  }
  if (res.status === 401) {
    // The server has user accounts (or its own token) and this tab has none that works:
    // the app asks for one.
    for (const f of unauthorizedListeners) f();
  }
  if (!res.ok) {
    throw data && typeof data === "object"
      ? toApiError(data, res.status)
      : new ApiError("http", `HTTP ${res.status} ${res.statusText || ""}`.trim(), res.status);
  }
  return data as T;
}

/** A call's arguments and answer, from the generated route map. */
export type ArgsOf<N extends CallName> = Calls[N]["args"];
export type AnswerOf<N extends CallName> = Calls[N]["answer"];
/** The arguments may be left out where none is required. */
type ArgList<N extends CallName> = {} extends ArgsOf<N> ? [args?: ArgsOf<N>] : [args: ArgsOf<N>];

/** Calls a backend endpoint by name, typed end to end by the generated `Calls`. */
export async function call<N extends CallName>(name: N, ...rest: ArgList<N>): Promise<AnswerOf<N>> {
  const args: Args = { ...(rest[0] ?? {}) };
  const t = tauri();
  if (t) {
    try {
      return (await t.core.invoke(name, { args })) as AnswerOf<N>;
    } catch (e) {
      throw toApiError(e);
    }
  }
  return http<AnswerOf<N>>(buildRequest(name, args));
}

function withToken(url: string): string {
  const t = token();
  if (!t) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(t)}`;
}

function isWindows(): boolean {
  return typeof navigator !== "undefined" && /Windows/i.test(navigator.userAgent);
}

/** URL of a pair's full image or thumbnail, usable as an <img src>. */
export function imageUrl(id: number, kind: "image" | "thumb"): string {
  if (isTauri()) {
    const base = isWindows() ? "http://pairlab.localhost" : "pairlab://localhost";
    return base + buildRequest(kind, { id }).url.replace(/^\/api/, "");
  }
  return withToken(buildRequest(kind, { id }).url);
}

/** Follows a job's progress; `cb` gets every JobState until the job ends. Returns an unsubscribe. */
export function watchJob(id: number, cb: (state: JobState) => void): () => void {
  const t = tauri();
  if (t) {
    let active = true;
    const channel = new t.core.Channel<JobState>();
    channel.onmessage = (s) => {
      if (active) cb(s);
    };
    t.core.invoke("job_events", { args: { id }, onEvent: channel }).catch((e) => {
      if (active) console.error("job_events", toApiError(e));
    });
    return () => {
      active = false;
    };
  }
  const source = new EventSource(withToken(buildRequest("job_events", { id }).url));
  // The server names its events `job` (`event: job`); `onmessage` only sees unnamed ones.
  source.addEventListener("job", (ev) => {
    const state = JSON.parse((ev as MessageEvent).data) as JobState;
    cb(state);
    if (state.status !== "running") source.close();
  });
  source.onerror = () => source.close();
  return () => source.close();
}

/** Native folder picker in the Tauri window; null in a browser (type the path) or when cancelled. */
export async function pickFolder(): Promise<string | null> {
  const t = tauri();
  if (!t) return null;
  const picked = await t.core.invoke("plugin:dialog|open", { options: { directory: true } });
  return typeof picked === "string" ? picked : null;
}

/** Native file picker in the Tauri window (label files); null in a browser or when cancelled. */
export async function pickFile(): Promise<string | null> {
  const t = tauri();
  if (!t) return null;
  const picked = await t.core.invoke("plugin:dialog|open", {
    options: { directory: false, filters: [{ name: "Label files", extensions: ["csv", "jsonl", "ndjson"] }] },
  });
  return typeof picked === "string" ? picked : null;
}
