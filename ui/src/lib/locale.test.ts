import { describe, expect, it } from "vitest";
import { safeLocale } from "./locale";

describe("safeLocale", () => {
  it("keeps a real language tag", () => {
    expect(safeLocale("de-DE")).toBe("de-DE");
    expect(safeLocale("en-gb")).toBe("en-GB");
  });
  it("falls back for the POSIX C locale and nothing", () => {
    expect(safeLocale("C")).toBe("en-US");
    expect(safeLocale("")).toBe("en-US");
    expect(safeLocale(undefined)).toBe("en-US");
  });
});
