// Pure helpers of the Library view.
const nf = new Intl.NumberFormat("en-US");

export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : nf.format(n);
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", or the date beyond a month. */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 31) return d === 1 ? "yesterday" : `${d} days ago`;
  return iso.slice(0, 10);
}

/** A timestamp as "2026-11-29 13:44" (UTC as stored), for titles and tables. */
export function stamp(iso: string | null | undefined): string {
  if (!iso) return "–";
  return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z?$/, "");
}

/** The folder's last segment, for a compact title. */
export function baseName(path: string): string {
  const parts = path.replace(/[\\/]+$/, "").split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** A leakage report in a line: patients, exact duplicates, near duplicates (the same
 *  picture, grouped into clusters), and the look-alikes that were checked and not counted. */
export function leakageSummary(r: {
  patients: unknown[];
  exact_duplicates: unknown[];
  near_total: number;
  near_clusters?: unknown[];
  look_alikes?: number;
}): { total: number; text: string; lookAlikes: string } {
  const total = r.patients.length + r.exact_duplicates.length + r.near_total;
  const p = r.patients.length;
  const clusters = r.near_clusters?.length ?? 0;
  const near = `${count(r.near_total)} near${r.near_total > 0 && clusters > 0 ? ` in ${count(clusters)} ${clusters === 1 ? "cluster" : "clusters"}` : ""}`;
  const text = `${count(p)} ${p === 1 ? "patient" : "patients"} · ${count(r.exact_duplicates.length)} exact · ${near}`;
  const n = r.look_alikes ?? 0;
  const lookAlikes = n > 0 ? `${count(n)} look-alike ${n === 1 ? "pair" : "pairs"} (close hashes, different pixels) not counted` : "";
  return { total, text, lookAlikes };
}

/** How many entries a leakage group has in all: near-duplicate pairs are listed only up
 *  to a cap (the closest first), so their total comes separately. */
export function leakageGroupTotal(
  r: { patients: unknown[]; exact_duplicates: unknown[]; near_duplicates: unknown[]; near_total: number; near_clusters?: unknown[] },
  key: "patients" | "exact_duplicates" | "near_duplicates" | "near_clusters",
): number {
  if (key === "near_duplicates") return Math.max(r.near_total, r.near_duplicates.length);
  if (key === "near_clusters") return r.near_clusters?.length ?? 0;
  return r[key].length;
}

export const LAYOUTS: { value: string; label: string; hint: string }[] = [
  { value: "auto", label: "Auto-detect", hint: "Pairlab picks the layout from the folder's contents" },
  { value: "stem", label: "Same stem", hint: "image.png next to image.txt" },
  { value: "folders", label: "Folders", hint: "images/ and reports/ folders with matching names" },
  { value: "mimic", label: "MIMIC-CXR", hint: "files/pXX/pNNN/sNNN/*.dcm with sNNN.txt reports" },
  { value: "iu-xml", label: "IU X-ray (XML)", hint: "Open-i XML reports that name their images" },
  { value: "manifest", label: "Manifest", hint: "A CSV or JSONL manifest at the folder's top" },
];

/** The export formats, with what each is for. */
export const EXPORT_FORMATS: { value: string; label: string; hint: string }[] = [
  { value: "hf-parquet", label: "Hugging Face (Parquet)", hint: "data/{split}-*.parquet and a README card: load_dataset(\"parquet\") or the folder" },
  { value: "imagefolder", label: "ImageFolder", hint: "split/class/image (multi-class) or images + metadata.parquet (multi-label)" },
  { value: "chexpert-csv", label: "CheXpert CSV", hint: "Path, Sex, Age, Frontal/Lateral, AP/PA, then 1.0 / 0.0 / -1.0 / empty per class" },
  { value: "jsonl", label: "JSON lines", hint: "one object per pair: image, report, patient, study, labels and their sources" },
  { value: "csv", label: "CSV", hint: "one row per pair, a column per class and per class source" },
];

const IMAGE_MODES: Record<string, string[]> = {
  "hf-parquet": ["embed", "thumbnail", "path"],
  imagefolder: ["copy", "link"],
  "chexpert-csv": ["path", "copy", "link"],
  jsonl: ["path", "copy", "link"],
  csv: ["path", "copy", "link"],
};

const IMAGE_LABELS: Record<string, string> = {
  embed: "Embedded (bytes in the files)",
  thumbnail: "Thumbnails embedded",
  path: "Paths to the originals",
  copy: "Copied into the folder",
  link: "Linked (symbolic links)",
};

/** The image modes a format can write, its default first. */
export function exportImageModes(format: string): { value: string; label: string }[] {
  return (IMAGE_MODES[format] ?? ["path"]).map((m) => ({ value: m, label: IMAGE_LABELS[m] ?? m }));
}
