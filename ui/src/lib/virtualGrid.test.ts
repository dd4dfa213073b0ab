import { describe, expect, it } from "vitest";
import { layout, moveIndex, scrollToShow, visibleRange } from "./virtualGrid";

describe("layout", () => {
  it("fits as many columns as the minimum width allows and stretches them", () => {
    const l = layout(1000, 160, 30, 10, 1000);
    expect(l.cols).toBe(5); // 5*160 + 4*10 = 840 ≤ 1000 < 6*160 + 5*10
    expect(l.cellW).toBe(192); // (1000 - 40) / 5
    expect(l.cellH).toBe(222);
    expect(l.rowHeight).toBe(232);
    expect(l.totalRows).toBe(200);
    expect(l.totalHeight).toBe(200 * 232 - 10);
  });

  it("keeps one column when narrower than a cell, and no rows when empty", () => {
    expect(layout(50, 160, 30, 10, 3).cols).toBe(1);
    expect(layout(1000, 160, 30, 10, 0).totalHeight).toBe(0);
  });
});

describe("visibleRange", () => {
  const l = layout(1000, 160, 30, 10, 100_000); // 5 cols, row pitch 232

  it("renders the rows in view plus a buffer", () => {
    const r = visibleRange(l, 0, 900, 100_000, 2);
    expect(r.firstRow).toBe(0);
    expect(r.endRow).toBe(Math.ceil(900 / 232) + 2);
    expect([r.start, r.end, r.offsetY]).toEqual([0, r.endRow * 5, 0]);
  });

  it("stays small deep into a large list", () => {
    const top = 15_000 * 232 + 100;
    const r = visibleRange(l, top, 900, 100_000, 2);
    expect(r.firstRow).toBe(15_000 - 2);
    expect(r.offsetY).toBe(r.firstRow * 232);
    expect(r.end - r.start).toBeLessThanOrEqual(5 * 9);
    expect(r.start).toBe(r.firstRow * 5);
  });

  it("clamps at the end of the items", () => {
    const r = visibleRange(layout(1000, 160, 30, 10, 12), 0, 5000, 12, 2);
    expect(r.end).toBe(12);
    expect(r.endRow).toBe(3);
  });
});

describe("moveIndex", () => {
  it("moves by one, by a row, and by a page, within bounds", () => {
    expect(moveIndex(0, "left", 5, 20)).toBe(0);
    expect(moveIndex(0, "right", 5, 20)).toBe(1);
    expect(moveIndex(7, "down", 5, 20)).toBe(12);
    expect(moveIndex(7, "up", 5, 20)).toBe(2);
    expect(moveIndex(2, "up", 5, 20)).toBe(2);
    expect(moveIndex(17, "down", 5, 20)).toBe(17);
    expect(moveIndex(3, "pageDown", 5, 100, 4)).toBe(23);
    expect(moveIndex(3, "pageUp", 5, 100, 4)).toBe(0);
    expect(moveIndex(40, "first", 5, 100)).toBe(0);
    expect(moveIndex(4, "last", 5, 100)).toBe(99);
    expect(moveIndex(0, "right", 5, 0)).toBe(-1);
  });
});

describe("scrollToShow", () => {
  const l = layout(1000, 160, 30, 10, 100); // row pitch 232, cell 222
  it("scrolls up or down only as far as needed", () => {
    expect(scrollToShow(l, 0, 500, 600)).toBe(0);
    expect(scrollToShow(l, 15, 0, 600)).toBe(3 * 232 + 222 - 600);
    expect(scrollToShow(l, 5, 0, 600)).toBe(0);
  });
});
