// Range maths of the virtualised grid: fixed-size cells laid out in rows; only the rows in
// view (plus a buffer) are rendered.

export interface GridLayout {
  cols: number;
  /** Cell size: the columns share the width; the height adds a caption to a square image. */
  cellW: number;
  cellH: number;
  /** Row pitch: cell height plus gap. */
  rowHeight: number;
  totalRows: number;
  totalHeight: number;
}

export interface GridRange {
  firstRow: number;
  /** Exclusive. */
  endRow: number;
  /** Item indices [start, end). */
  start: number;
  end: number;
  offsetY: number;
}

/** As many columns of at least `minCellW` as fit in `width`, stretched to fill it. */
export function layout(width: number, minCellW: number, captionH: number, gap: number, count: number): GridLayout {
  const cols = Math.max(1, Math.floor((width + gap) / (minCellW + gap)));
  const cellW = Math.max(minCellW, Math.floor((width - gap * (cols - 1)) / cols));
  const cellH = cellW + captionH;
  const rowHeight = cellH + gap;
  const totalRows = Math.ceil(count / cols);
  return { cols, cellW, cellH, rowHeight, totalRows, totalHeight: Math.max(0, totalRows * rowHeight - gap) };
}

export function visibleRange(l: GridLayout, scrollTop: number, viewport: number, count: number, bufferRows = 2): GridRange {
  const top = Math.max(0, scrollTop);
  const firstRow = Math.max(0, Math.floor(top / l.rowHeight) - bufferRows);
  const endRow = Math.min(l.totalRows, Math.ceil((top + viewport) / l.rowHeight) + bufferRows);
  const start = Math.min(count, firstRow * l.cols);
  const end = Math.min(count, Math.max(start, endRow * l.cols));
  return { firstRow, endRow: Math.max(firstRow, endRow), start, end, offsetY: firstRow * l.rowHeight };
}

export type Move = "left" | "right" | "up" | "down" | "pageUp" | "pageDown" | "first" | "last";

/** The index focus moves to; stays within [0, count). */
export function moveIndex(index: number, move: Move, cols: number, count: number, pageRows = 1): number {
  if (count <= 0) return -1;
  const i = Math.min(Math.max(index, 0), count - 1);
  const step: Record<Move, number> = {
    left: -1,
    right: 1,
    up: -cols,
    down: cols,
    pageUp: -cols * Math.max(1, pageRows),
    pageDown: cols * Math.max(1, pageRows),
    first: -Infinity,
    last: Infinity,
  };
  const next = i + step[move];
  if (move === "up" || move === "down") return next < 0 || next >= count ? i : next;
  return Math.min(count - 1, Math.max(0, next));
}

/** The scrollTop that brings `index` into view (unchanged when it already is). */
export function scrollToShow(l: GridLayout, index: number, scrollTop: number, viewport: number): number {
  const row = Math.floor(index / l.cols);
  const top = row * l.rowHeight;
  if (top < scrollTop) return top;
  if (top + l.cellH > scrollTop + viewport) return top + l.cellH - viewport;
  return scrollTop;
}
