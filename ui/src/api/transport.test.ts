import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, buildRequest, call, captureToken, imageUrl, isTauri, pickFolder, toApiError, onUnauthorized, watchJob } from "./transport";
import type { JobState } from "./types";

// The tests run in Node: `window` exists only when a test puts a fake Tauri global there.
const g = globalThis as unknown as { window?: unknown; fetch: typeof fetch };

/** The error a promise rejects with; fails the test when it resolves. */
function rejection(p: Promise<unknown>): Promise<ApiError> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: ApiError) => e,
  );
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(body === undefined ? "" : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("buildRequest", () => {
  it("substitutes path params and leaves them out of the query", () => {
    expect(buildRequest("history", { id: 12 })).toEqual({ method: "GET", url: "/api/pairs/12/history" });
    expect(buildRequest("labels", { id: 7, schema: "chexpert" })).toEqual({
      method: "GET",
      url: "/api/pairs/7/labels?schema=chexpert",
    });
  });

  it("encodes path params", () => {
    expect(buildRequest("pair", { id: "a/b" }).url).toBe("/api/pairs/a%2Fb");
  });

  it("throws when a path param is missing", () => {
    expect(() => buildRequest("pair", {})).toThrow(ApiError);
  });

  it("builds GET queries, skipping undefined and null, encoding values", () => {
    const r = buildRequest("search", { q: "pleural effusion & more", limit: 20, after: undefined, x: null });
    expect(r.method).toBe("GET");
    expect(r.url).toBe("/api/search?q=pleural+effusion+%26+more&limit=20");
    expect(r.body).toBeUndefined();
    expect(buildRequest("stats").url).toBe("/api/stats");
  });

  it("sends the remaining args of a POST as the JSON body, keeping null", () => {
    const r = buildRequest("set_label", { pair: 3, class: "Edema", value: null, annotator: "me", schema: undefined });
    expect(r).toMatchObject({ method: "POST", url: "/api/labels" });
    expect(JSON.parse(r.body!)).toEqual({ pair: 3, class: "Edema", value: null, annotator: "me" });
  });

  it("takes path params out of a POST body", () => {
    const r = buildRequest("cancel_job", { id: 4 });
    expect(r.url).toBe("/api/jobs/4/cancel");
    expect(JSON.parse(r.body!)).toEqual({});
  });
});

describe("call in a browser", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    delete g.window;
    fetchMock = vi.fn();
    g.fetch = fetchMock as unknown as typeof fetch;
  });

  it("GETs the route and parses JSON", async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, { status: "ok", version: "0.1.0" }));
    await expect(call("health")).resolves.toEqual({ status: "ok", version: "0.1.0" });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/health");
    expect(init.method).toBe("GET");
    expect(init.body).toBeUndefined();
  });

  it("POSTs a JSON body with a content type", async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, { rows: [], next: null }));
    await call("browse", { filter: { split: "s" }, limit: 100 });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/browse");
    expect(init.method).toBe("POST");
    expect(init.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(init.body)).toEqual({ filter: { split: "s" }, limit: 100 });
  });

  it("returns null for an empty or null body", async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, null));
    await expect(call("undo", { annotator: "me" })).resolves.toBeNull();
  });

  it("maps an error body to ApiError with kind, message and status", async () => {
    fetchMock.mockResolvedValue(jsonResponse(404, { kind: "not_found", message: "no pair 9" }));
    const err = await rejection(call("pair", { id: 9 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ kind: "not_found", message: "no pair 9", status: 404 });
  });

  it("keeps the field an invalid argument names", async () => {
    fetchMock.mockResolvedValue(jsonResponse(400, { kind: "invalid", message: "invalid value: 7", field: "value" }));
    const err = await rejection(call("undo", { annotator: "me" }));
    expect(err).toMatchObject({ kind: "invalid", field: "value", status: 400 });
  });

  it("asks the app for a token when the server answers 401", async () => {
    fetchMock.mockResolvedValue(jsonResponse(401, { kind: "unauthorized", message: "token" }));
    const seen = vi.fn();
    const stop = onUnauthorized(seen);
    const err = await rejection(call("stats"));
    stop();
    expect(err).toMatchObject({ kind: "unauthorized", status: 401 });
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it("does not ask for a token on other errors", async () => {
    fetchMock.mockResolvedValue(jsonResponse(403, { kind: "forbidden", message: "role" }));
    const seen = vi.fn();
    const stop = onUnauthorized(seen);
    await rejection(call("stats"));
    stop();
    expect(seen).not.toHaveBeenCalled();
  });

  it("maps a non-JSON error to an http ApiError", async () => {
    fetchMock.mockResolvedValue(new Response("boom", { status: 502, statusText: "Bad Gateway" }));
    const err = await rejection(call("stats"));
    expect(err).toMatchObject({ kind: "http", status: 502 });
    expect(err.message).toContain("502");
  });

  it("maps a network failure to a network ApiError", async () => {
    fetchMock.mockRejectedValue(new TypeError("Failed to fetch"));
    const err = await rejection(call("stats"));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe("network");
  });

  it("sends a kept token as a bearer header", async () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    vi.stubGlobal("sessionStorage", storage);
    captureToken("?token=s3cret&x=1", storage);
    fetchMock.mockResolvedValue(jsonResponse(200, {}));
    await call("stats");
    expect(fetchMock.mock.calls[0][1].headers.Authorization).toBe("Bearer s3cret");
    expect(imageUrl(3, "thumb")).toBe("/api/pairs/3/thumb?token=s3cret");
    vi.unstubAllGlobals();
  });

  it("has no folder picker", async () => {
    await expect(pickFolder()).resolves.toBeNull();
  });

  it("builds browser image URLs", () => {
    expect(isTauri()).toBe(false);
    expect(imageUrl(5, "image")).toBe("/api/pairs/5/image");
    expect(imageUrl(5, "thumb")).toBe("/api/pairs/5/thumb");
  });
});

describe("call in Tauri", () => {
  const invoke = vi.fn();
  beforeEach(() => {
    g.window = { __TAURI__: { core: { invoke, Channel: class {} } } };
    g.fetch = vi.fn() as unknown as typeof fetch;
    invoke.mockReset();
  });
  afterEach(() => {
    delete g.window;
  });

  it("invokes the command by name with every arg inside `args`", async () => {
    invoke.mockResolvedValue([{ class: "Edema" }]);
    await expect(call("labels", { id: 4, schema: "chexpert" })).resolves.toEqual([{ class: "Edema" }]);
    expect(invoke).toHaveBeenCalledWith("labels", { args: { id: 4, schema: "chexpert" } });
    expect(g.fetch).not.toHaveBeenCalled();
  });

  it("turns a {kind, message} rejection into ApiError", async () => {
    invoke.mockRejectedValue({ kind: "invalid", message: "bad class" });
    // @ts-expect-error: the arguments lack class, value and annotator (the types say so too)
    const err = await rejection(call("set_label", { pair: 1 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ kind: "invalid", message: "bad class", status: null });
  });

  it("streams job states through a Channel until unsubscribed", () => {
    invoke.mockResolvedValue(null);
    const seen: number[] = [];
    const stop = watchJob(5, (s) => seen.push(s.position));
    const [cmd, payload] = invoke.mock.calls[0];
    expect(cmd).toBe("job_events");
    expect(payload.args).toEqual({ id: 5 });
    const channel = payload.onEvent as { onmessage: (s: JobState) => void };
    channel.onmessage({ position: 1 } as JobState);
    stop();
    channel.onmessage({ position: 2 } as JobState);
    expect(seen).toEqual([1]);
  });

  it("opens the folder dialog", async () => {
    invoke.mockResolvedValue("/data/cxr");
    await expect(pickFolder()).resolves.toBe("/data/cxr");
    expect(invoke).toHaveBeenCalledWith("plugin:dialog|open", { options: { directory: true } });
  });

  it("uses the custom protocol for images", () => {
    expect(isTauri()).toBe(true);
    expect(imageUrl(8, "image")).toBe("pairlab://localhost/pairs/8/image");
  });
});

describe("toApiError", () => {
  it("keeps ApiErrors and wraps strings", () => {
    const e = new ApiError("invalid", "m");
    expect(toApiError(e)).toBe(e);
    // Only core's kinds: something thrown that is not an error is an internal one.
    expect(toApiError("oops")).toMatchObject({ kind: "internal", message: "oops" });
  });
});
