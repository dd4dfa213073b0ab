import { describe, expect, it } from "vitest";
import { ago, baseName, count, EXPORT_FORMATS, exportImageModes, leakageSummary, leakageGroupTotal, stamp } from "./format";

describe("library format", () => {
  const now = Date.parse("2026-11-29T14:00:00Z");
  it("says how long ago", () => {
    expect(ago("2026-11-29T13:59:50Z", now)).toBe("just now");
    expect(ago("2026-11-29T13:44:29Z", now)).toBe("16 min ago");
    expect(ago("2026-11-29T10:00:00Z", now)).toBe("4 h ago");
    expect(ago("2026-11-28T12:00:00Z", now)).toBe("yesterday");
    expect(ago("2026-08-01T00:00:00Z", now)).toBe("2026-08-01");
    expect(ago(null, now)).toBe("never");
  });
  it("formats stamps, counts and names", () => {
    expect(stamp("2026-11-29T13:44:29Z")).toBe("2026-11-29 13:44");
    expect(count(12345)).toBe("12,345");
    expect(baseName("/tmp/uidemo/corpus/")).toBe("corpus");
    expect(baseName("C:\\data\\cxr")).toBe("cxr");
  });
  it("summarises a leakage report", () => {
    expect(leakageSummary({ patients: [1], exact_duplicates: [], near_total: 14992 })).toEqual({
      total: 14993, text: "1 patient · 0 exact · 14,992 near", lookAlikes: "",
    });
    expect(leakageSummary({ patients: [], exact_duplicates: [], near_total: 3, near_clusters: [1], look_alikes: 1200 })).toEqual({
      total: 3, text: "0 patients · 0 exact · 3 near in 1 cluster",
      lookAlikes: "1,200 look-alike pairs (close hashes, different pixels) not counted",
    });
  });
  it("counts a capped near-duplicate list by its total", () => {
    const r = { patients: [1], exact_duplicates: [], near_duplicates: [1, 2], near_total: 40 };
    expect(leakageGroupTotal(r, "near_duplicates")).toBe(40);
    expect(leakageGroupTotal(r, "patients")).toBe(1);
    expect(leakageGroupTotal({ ...r, near_clusters: [1, 2, 3] }, "near_clusters")).toBe(3);
  });
});

describe("exportImageModes", () => {
  it("offers what each format can carry, its default first", () => {
    expect(exportImageModes("hf-parquet").map((m) => m.value)).toEqual(["embed", "thumbnail", "path"]);
    expect(exportImageModes("imagefolder").map((m) => m.value)).toEqual(["copy", "link"]);
    expect(exportImageModes("csv")[0].value).toBe("path");
    expect(EXPORT_FORMATS.map((f) => f.value)).toEqual(["hf-parquet", "imagefolder", "chexpert-csv", "jsonl", "csv"]);
  });
});
