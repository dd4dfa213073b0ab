// The one keymap table: views dispatch from it and the help overlay is generated from it.

export type Scope = "global" | "browse" | "sample";

export interface Binding {
  scope: Scope;
  action: string;
  /** Normalised key strings (see keyOf): "j", "A", "ctrl+z", "ArrowLeft", "shift+Enter". */
  keys: string[];
  description: string;
}

export const SCOPE_TITLES: Record<Scope, string> = {
  global: "Everywhere",
  browse: "Browse",
  sample: "Sample",
};

/** Keys selecting class rows 1..20, in order: the digits, then Shift with the digits. */
const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
export const CLASS_KEYS = [...DIGITS, ...DIGITS.map((d) => `shift+${d}`)];

/** Key sequences start with this key: `g b` goes to Browse. */
export const SEQUENCE_PREFIX = "g";

export const KEYMAP: Binding[] = [
  { scope: "global", action: "help", keys: ["?"], description: "Show or hide this list of shortcuts" },
  { scope: "global", action: "close", keys: ["Escape"], description: "Close an overlay; in a sample, back to the grid" },
  { scope: "global", action: "goLibrary", keys: ["g l"], description: "Go to the Library" },
  { scope: "global", action: "goBrowse", keys: ["g b"], description: "Go to Browse" },
  { scope: "global", action: "goSample", keys: ["g s"], description: "Go to the Sample view" },
  { scope: "global", action: "goMap", keys: ["g m"], description: "Go to the embedding Map" },
  { scope: "global", action: "goTrain", keys: ["g t"], description: "Go to Train" },
  { scope: "global", action: "goEvaluate", keys: ["g e"], description: "Go to Evaluate" },

  { scope: "browse", action: "left", keys: ["ArrowLeft"], description: "Focus the previous cell" },
  { scope: "browse", action: "right", keys: ["ArrowRight"], description: "Focus the next cell" },
  { scope: "browse", action: "up", keys: ["ArrowUp"], description: "Focus the cell above" },
  { scope: "browse", action: "down", keys: ["ArrowDown"], description: "Focus the cell below" },
  { scope: "browse", action: "pageUp", keys: ["PageUp"], description: "One screen up" },
  { scope: "browse", action: "pageDown", keys: ["PageDown"], description: "One screen down" },
  { scope: "browse", action: "first", keys: ["Home"], description: "First pair" },
  { scope: "browse", action: "last", keys: ["End"], description: "Last loaded pair" },
  { scope: "browse", action: "open", keys: ["Enter"], description: "Open the focused pair" },
  { scope: "browse", action: "search", keys: ["/"], description: "Search report text" },

  { scope: "sample", action: "next", keys: ["j", "ArrowRight"], description: "Next pair" },
  { scope: "sample", action: "prev", keys: ["k", "ArrowLeft"], description: "Previous pair" },
  { scope: "sample", action: "selectClass", keys: CLASS_KEYS, description: "Select class row 1–10 (digits), 11–20 (Shift and a digit)" },
  { scope: "sample", action: "classUp", keys: ["ArrowUp"], description: "Move the class cursor up" },
  { scope: "sample", action: "classDown", keys: ["ArrowDown"], description: "Move the class cursor down" },
  { scope: "sample", action: "positive", keys: ["p"], description: "Set the selected class positive (1)" },
  { scope: "sample", action: "negative", keys: ["n"], description: "Set the selected class negative (0)" },
  { scope: "sample", action: "uncertain", keys: ["u"], description: "Set the selected class uncertain (−1)" },
  { scope: "sample", action: "blank", keys: ["b", "Backspace"], description: "Clear the selected class (blank)" },
  { scope: "sample", action: "acceptMachine", keys: ["a"], description: "Accept all machine suggestions as your labels" },
  { scope: "sample", action: "undo", keys: ["ctrl+z"], description: "Undo your last label change" },
  { scope: "sample", action: "redo", keys: ["ctrl+shift+z", "ctrl+y"], description: "Redo" },
  { scope: "sample", action: "reviewAccept", keys: ["A"], description: "Review: accept (again: take it back)" },
  { scope: "sample", action: "reviewFlag", keys: ["F"], description: "Review: flag (again: take it back)" },
  { scope: "sample", action: "reviewReject", keys: ["R"], description: "Review: reject (again: take it back)" },
  { scope: "sample", action: "zoomIn", keys: ["=", "+"], description: "Zoom in" },
  { scope: "sample", action: "zoomOut", keys: ["-"], description: "Zoom out" },
  { scope: "sample", action: "panLeft", keys: ["shift+ArrowLeft"], description: "Pan the image left" },
  { scope: "sample", action: "panRight", keys: ["shift+ArrowRight"], description: "Pan the image right" },
  { scope: "sample", action: "panUp", keys: ["shift+ArrowUp"], description: "Pan the image up" },
  { scope: "sample", action: "panDown", keys: ["shift+ArrowDown"], description: "Pan the image down" },
  { scope: "sample", action: "resetView", keys: ["z"], description: "Reset zoom, pan and window/level" },
  { scope: "sample", action: "windowPreset", keys: ["w"], description: "Next window/level preset" },
  { scope: "sample", action: "windowPresetBack", keys: ["W"], description: "Previous window/level preset" },
  { scope: "sample", action: "invert", keys: ["i"], description: "Invert the image" },
  { scope: "sample", action: "studyNext", keys: ["]"], description: "Next image of the study" },
  { scope: "sample", action: "studyPrev", keys: ["["], description: "Previous image of the study" },
  { scope: "sample", action: "evidence", keys: ["e"], description: "Show or hide the report's evidence as a list" },
  { scope: "sample", action: "history", keys: ["h"], description: "Show or hide the label history" },
  { scope: "sample", action: "labelNext", keys: ["l"], description: "Label next: the unlabelled pair the latest run is least sure of (then j follows that queue)" },
  { scope: "sample", action: "issueAccept", keys: ["y"], description: "Review queue: accept the suggested label" },
  { scope: "sample", action: "issueKeep", keys: ["x"], description: "Review queue: keep the given label" },
  { scope: "sample", action: "issueSkip", keys: ["s"], description: "Review queue: skip to the next likely error (or disagreement)" },
];

/**
 * A keyboard event as one string: modifiers ("ctrl" for Ctrl or Cmd, "alt", "shift") joined
 * with "+" before the key. A printable key without Ctrl/Alt is its character alone, so Shift+a
 * is "A" and Shift+/ is "?"; with Ctrl/Alt it is lower-cased and Shift is spelled out.
 */
export function keyOf(
  e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "shiftKey"> & { code?: string },
): string {
  const mods: string[] = [];
  if (e.ctrlKey || e.metaKey) mods.push("ctrl");
  if (e.altKey) mods.push("alt");
  // Shift with a digit key is "shift+1", whatever character the layout puts there ("!", "§").
  const digit = /^(?:Digit|Numpad)(\d)$/.exec(e.code ?? "");
  if (digit && e.shiftKey && mods.length === 0) return `shift+${digit[1]}`;
  let key = e.key === " " ? "Space" : e.key;
  if (key.length === 1) {
    if (mods.length > 0) {
      key = key.toLowerCase();
      if (e.shiftKey) mods.push("shift");
    }
  } else if (e.shiftKey) {
    mods.push("shift");
  }
  return [...mods, key].join("+");
}

/** True when `key` starts a sequence bound in `scope` (`g` of `g b`). */
export function startsSequence(scope: Scope, key: string): boolean {
  return KEYMAP.some((b) => b.scope === scope && b.keys.some((k) => k.startsWith(`${key} `)));
}

/** The action bound to `key` in `scope`, or null. */
export function actionFor(scope: Scope, key: string): string | null {
  return KEYMAP.find((b) => b.scope === scope && b.keys.includes(key))?.action ?? null;
}

/** True when typing into a form field, where single-key shortcuts must not fire. */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

/** How a key string is shown to people ("ctrl+shift+z" → "Ctrl Shift Z"). */
export function displayKey(key: string): string {
  const names: Record<string, string> = {
    ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓",
    Escape: "Esc", Backspace: "⌫", Enter: "Enter", PageUp: "PgUp", PageDown: "PgDn",
    ctrl: "Ctrl", shift: "Shift", alt: "Alt",
  };
  if (key.includes(" ")) return key.split(" ").map(displayKey).join(" then ");
  if (key.length === 1) return key;
  return key
    .split("+")
    .map((p) => names[p] ?? (p.length === 1 ? p.toUpperCase() : p))
    .join(" ");
}
