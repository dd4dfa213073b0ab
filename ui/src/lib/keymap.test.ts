import { describe, expect, it } from "vitest";
import { actionFor, CLASS_KEYS, displayKey, KEYMAP, keyOf, type Scope, startsSequence } from "./keymap";

const press = (key: string, mods: Partial<Record<"ctrlKey" | "metaKey" | "altKey" | "shiftKey", boolean>> = {}) =>
  keyOf({ key, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

describe("keymap table", () => {
  it("binds no key twice within a scope, nor a view key that is also global", () => {
    const seen = new Map<string, string>();
    for (const b of KEYMAP) {
      for (const k of b.keys) {
        const id = `${b.scope}:${k}`;
        expect(seen.has(id), `${id} bound to ${seen.get(id)} and ${b.action}`).toBe(false);
        seen.set(id, b.action);
      }
    }
    const globals = new Set(KEYMAP.filter((b) => b.scope === "global").flatMap((b) => b.keys));
    for (const b of KEYMAP.filter((b) => b.scope !== "global")) {
      for (const k of b.keys) expect(globals.has(k), `${b.scope}:${k} shadows a global key`).toBe(false);
    }
  });

  it("describes every action, with at least one key, once per scope", () => {
    const actions = new Set<string>();
    for (const b of KEYMAP) {
      expect(b.description.trim().length).toBeGreaterThan(3);
      expect(b.keys.length).toBeGreaterThan(0);
      expect(actions.has(`${b.scope}:${b.action}`)).toBe(false);
      actions.add(`${b.scope}:${b.action}`);
    }
  });

  it("uses keys in the form keyOf produces", () => {
    for (const b of KEYMAP) {
      for (const k of b.keys.flatMap((seq) => seq.split(" "))) {
        const digit = /^shift\+(\d)$/.exec(k);
        if (digit) {
          // Shift with a digit is named by the key's code, not the character it types.
          expect(keyOf({ key: "!", code: `Digit${digit[1]}`, ctrlKey: false, metaKey: false, altKey: false, shiftKey: true })).toBe(k);
          continue;
        }
        const parts = k.split("+").filter(Boolean);
        const key = parts[parts.length - 1] || "+";
        const mods = parts.slice(0, -1);
        const e = {
          key: mods.includes("shift") && key.length === 1 ? key.toUpperCase() : key,
          ctrlKey: mods.includes("ctrl"),
          metaKey: false,
          altKey: mods.includes("alt"),
          shiftKey: mods.includes("shift"),
        };
        expect(keyOf(e)).toBe(k);
      }
    }
  });
});

describe("keyOf and actionFor", () => {
  it("normalises shifted characters and modifiers", () => {
    expect(press("A", { shiftKey: true })).toBe("A");
    expect(press("?", { shiftKey: true })).toBe("?");
    expect(press("z", { ctrlKey: true })).toBe("ctrl+z");
    expect(press("Z", { ctrlKey: true, shiftKey: true })).toBe("ctrl+shift+z");
    expect(press("z", { metaKey: true })).toBe("ctrl+z");
    expect(press("ArrowLeft")).toBe("ArrowLeft");
    expect(press(" ")).toBe("Space");
  });

  it("finds actions per scope", () => {
    const scope: Scope = "sample";
    expect(actionFor(scope, press("j"))).toBe("next");
    expect(actionFor(scope, press("ArrowLeft"))).toBe("prev");
    expect(actionFor(scope, press("A", { shiftKey: true }))).toBe("reviewAccept");
    expect(actionFor(scope, press("a"))).toBe("acceptMachine");
    expect(actionFor(scope, press("Z", { ctrlKey: true, shiftKey: true }))).toBe("redo");
    expect(actionFor(scope, press("7"))).toBe("selectClass");
    expect(actionFor("browse", press("j"))).toBeNull();
    expect(actionFor("global", press("?", { shiftKey: true }))).toBe("help");
    expect(actionFor("global", "g b")).toBe("goBrowse");
    expect(startsSequence("global", "g")).toBe(true);
    expect(startsSequence("global", "b")).toBe(false);
  });

  it("puts every class of a 14-class schema on a key", () => {
    expect(CLASS_KEYS.length).toBeGreaterThanOrEqual(14);
    expect(new Set(CLASS_KEYS).size).toBe(CLASS_KEYS.length);
    const shifted = keyOf({ key: "%", code: "Digit5", ctrlKey: false, metaKey: false, altKey: false, shiftKey: true });
    expect(CLASS_KEYS.indexOf(shifted)).toBe(14);
    expect(actionFor("sample", shifted)).toBe("selectClass");
  });

  it("displays keys for people", () => {
    expect(displayKey("ctrl+shift+z")).toBe("Ctrl Shift Z");
    expect(displayKey("ArrowUp")).toBe("↑");
    expect(displayKey("+")).toBe("+");
  });
});
