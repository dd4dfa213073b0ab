import { describe, expect, it, vi } from "vitest";

vi.mock("../api/api", () => ({ api: {} }));
vi.mock("./browseSource.svelte", () => ({ browseSession: { source: null } }));

import { positionIn } from "./pairNav";

const source = (ids: number[], done: boolean, total: number | null) => ({
  indexOf: (id: number) => ids.indexOf(id),
  items: ids,
  done,
  total,
});

describe("positionIn", () => {
  it("says the query's total once Browse knows it, not the pages loaded so far", () => {
    expect(positionIn(source([5, 6, 7, 8], false, 1851), 8)).toEqual({ index: 3, count: 1851, more: false });
  });
  it("says N+ only while the total is unknown", () => {
    expect(positionIn(source([5, 6, 7, 8], false, null), 8)).toEqual({ index: 3, count: 4, more: true });
    expect(positionIn(source([5, 6], true, null), 6)).toEqual({ index: 1, count: 2, more: false });
  });
  it("is null for a pair outside the result", () => {
    expect(positionIn(source([5, 6], true, 2), 9)).toBeNull();
    expect(positionIn(null, 9)).toBeNull();
  });
});
