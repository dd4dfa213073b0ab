import { describe, expect, it } from "vitest";
import { emptyQuery, formatBrowseQuery, parseBrowseQuery, wireFilter, wireSort, type BrowseQuery } from "./browseQuery";

const roundTrip = (q: BrowseQuery) => parseBrowseQuery(new URLSearchParams(formatBrowseQuery(q).toString()));

describe("browse query in the URL", () => {
  it("round-trips every filter, the sort and its parameters", () => {
    const q: BrowseQuery = {
      filter: {
        split: "demo-by-patient",
        part: "test",
        schema: "chexpert",
        class: "Pleural Effusion",
        value: "-1",
        source: "model:run-1",
        review: "pre-labelled",
        tag: "lossy",
        text: "small effusion & more",
        corpus: 2,
        disagrees: 4,
      },
      sort: { by: "confidence", run: 3 },
      pairs: null,
    };
    expect(roundTrip(q)).toEqual(q);
    const m: BrowseQuery = { filter: {}, sort: { by: "mismatch", model: "clip" }, pairs: null };
    expect(roundTrip(m)).toEqual(m);
    const leastConfident: BrowseQuery = { filter: {}, sort: { by: "confidence", run: 2, desc: false }, pairs: null };
    expect(formatBrowseQuery(leastConfident).get("desc")).toBe("0");
    expect(roundTrip(leastConfident)).toEqual(leastConfident);
    const disagreeing: BrowseQuery = { filter: { review: "labelled" }, sort: { by: "disagreement", run: 5 }, pairs: null };
    expect(roundTrip(disagreeing)).toEqual(disagreeing);
    expect(wireSort(disagreeing.sort)).toEqual({ by: "disagreement", run: 5 });
    expect(wireFilter({ corpus: 3 })).toEqual({ corpus: 3 });
    expect(parseBrowseQuery(new URLSearchParams("corpus=x&disagrees=-2")).filter).toEqual({});
    const newest: BrowseQuery = { filter: {}, sort: { by: "id", desc: true }, pairs: null };
    expect(roundTrip(newest)).toEqual(newest);
  });

  it("round-trips an explicit list of pairs", () => {
    const q: BrowseQuery = { ...emptyQuery(), pairs: [1, 5, 9] };
    expect(formatBrowseQuery(q).toString()).toBe("pairs=1%2C5%2C9");
    expect(roundTrip(q)).toEqual(q);
    expect(parseBrowseQuery(new URLSearchParams("pairs=1,5,9")).pairs).toEqual([1, 5, 9]);
  });

  it("writes nothing for the default view and ignores invalid values", () => {
    expect(formatBrowseQuery(emptyQuery()).toString()).toBe("");
    const q = parseBrowseQuery(new URLSearchParams("value=2&review=maybe&sort=random&run=x&pairs=a,-1,4"));
    expect(q.filter).toEqual({});
    expect(q.sort).toEqual({ by: "id" });
    expect(q.pairs).toEqual([4]);
  });

  it("drops sort parameters that do not belong to the sort", () => {
    const s = formatBrowseQuery({ filter: {}, sort: { by: "id", model: "clip", run: 2 }, pairs: null });
    expect(s.toString()).toBe("");
  });
});

describe("wire forms", () => {
  it("omits the default sort, default directions and empty filters", () => {
    expect(wireSort({ by: "id" })).toBeUndefined();
    expect(wireSort({ by: "id", desc: false })).toBeUndefined();
    expect(wireSort({ by: "id", desc: true })).toEqual({ by: "id", desc: true });
    expect(wireSort({ by: "mismatch", model: "clip", run: 4 })).toEqual({ by: "mismatch", model: "clip" });
    expect(wireSort({ by: "mismatch", model: "clip", desc: true })).toEqual({ by: "mismatch", model: "clip" });
    expect(wireSort({ by: "confidence", run: 4, desc: false })).toEqual({ by: "confidence", run: 4, desc: false });
    expect(wireFilter({ split: "", text: "  " })).toBeUndefined();
    expect(wireFilter({ split: "s", text: " edema " })).toEqual({ split: "s", text: "edema" });
  });
});
