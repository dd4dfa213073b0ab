// Evidence spans come as UTF-8 byte offsets into report.text; JavaScript strings index UTF-16
// code units. These helpers convert and cut a text into highlighted segments.
import type { Evidence, EvidenceValue } from "../api/types";

/**
 * A table from UTF-8 byte offset to UTF-16 offset for `text`: entry b is the UTF-16 index of
 * the character starting at byte b (offsets inside a character map to that character's start;
 * entry text-byte-length maps to text.length).
 */
export function byteToUtf16Table(text: string): Uint32Array {
  const bytes = new TextEncoder().encode(text).length;
  const table = new Uint32Array(bytes + 1);
  let b = 0;
  for (let u = 0; u < text.length; ) {
    const cp = text.codePointAt(u)!;
    const units = cp > 0xffff ? 2 : 1;
    const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < len; k++) table[b + k] = u;
    b += len;
    u += units;
  }
  table[b] = text.length;
  return table;
}

export interface Span {
  start: number;
  end: number;
  evidence: Evidence;
}

/** Evidence with byte offsets converted to UTF-16 offsets into `text`; invalid spans dropped. */
export function toUtf16Spans(text: string, evidence: Evidence[]): Span[] {
  const table = byteToUtf16Table(text);
  const max = table.length - 1;
  return evidence
    .filter((e) => e.start >= 0 && e.end > e.start && e.end <= max)
    .map((e) => ({ start: table[e.start], end: table[e.end], evidence: e }))
    .sort((a, b) => a.start - b.start || b.end - a.end);
}

export interface Segment {
  text: string;
  /** UTF-16 offset of the segment in the full text. */
  start: number;
  /** Evidence covering this segment (empty for plain text). */
  evidence: Evidence[];
}

/** Cuts text[from, to) into segments at every span boundary; spans may overlap. */
export function segments(text: string, spans: Span[], from = 0, to = text.length): Segment[] {
  const cuts = new Set<number>([from, to]);
  for (const s of spans) {
    if (s.start > from && s.start < to) cuts.add(s.start);
    if (s.end > from && s.end < to) cuts.add(s.end);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out: Segment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const covering = spans.filter((s) => s.start <= a && s.end >= b).map((s) => s.evidence);
    out.push({ text: text.slice(a, b), start: a, evidence: covering });
  }
  return out;
}

/** The CSS class of a label value (1 / 0 / -1, or the labeler's enum name): pos, neg, unc or blank. */
export function valueClass(value: EvidenceValue | null | undefined): "pos" | "neg" | "unc" | "blank" {
  if (value === 1 || value === "Positive") return "pos";
  if (value === 0 || value === "Negative") return "neg";
  if (value === -1 || value === "Uncertain") return "unc";
  return "blank";
}
