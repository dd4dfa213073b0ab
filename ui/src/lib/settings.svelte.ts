// User settings persisted in localStorage.
function load(key: string, fallback: string): string {
  try {
    return localStorage.getItem(key) || fallback;
  } catch {
    return fallback;
  }
}

/** Whether a name was ever chosen (else labels would silently be recorded as "me"). */
function chosen(key: string): boolean {
  try {
    return localStorage.getItem(key) !== null;
  } catch {
    return false;
  }
}

export const settings = $state({
  annotatorChosen: chosen("pairlab.annotator"),
  annotator: load("pairlab.annotator", "me"),
  schema: load("pairlab.schema", "chexpert"),
  /** The Sample view's Details panel: "open" or "closed". */
  details: load("pairlab.details", "open"),
  /** The run whose predictions the Sample view shows beside the labels ("" for none). */
  predictionRun: load("pairlab.predictionRun", ""),
  /** Browse thumbnail size: "small", "medium" or "large". */
  thumbs: load("pairlab.thumbs", "medium"),
});

export function setSetting(key: "annotator" | "schema" | "details" | "predictionRun" | "thumbs", value: string): void {
  settings[key] = value;
  if (key === "annotator") settings.annotatorChosen = true;
  try {
    localStorage.setItem(`pairlab.${key}`, value);
  } catch {
    /* storage unavailable: keep it for this session only */
  }
}
