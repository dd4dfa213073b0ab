// The locale for numbers and dates. Under a POSIX "C" locale (e.g. LANG=C, as under Xvfb)
// WebKitGTK reports navigator.language "C", which Intl refuses with a RangeError.

/** `tag` if Intl accepts it, else "en-US". */
export function safeLocale(tag: string | undefined): string {
  if (!tag) return "en-US";
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    new Intl.NumberFormat(canonical);
    return canonical ?? "en-US";
  } catch {
    return "en-US";
  }
}

export const LOCALE = safeLocale(typeof navigator === "undefined" ? undefined : navigator.language);

/** Makes `navigator.language` a tag Intl accepts, for libraries that read it when they
 *  load (uPlot builds a NumberFormat from it). Imported first by main.ts. */
export function guardNavigatorLanguage(): void {
  if (typeof navigator === "undefined" || safeLocale(navigator.language) !== "en-US") return;
  if (navigator.language === "en-US") return;
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
}

guardNavigatorLanguage();
