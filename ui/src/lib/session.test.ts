import { describe, expect, it } from "vitest";
import { allows, needs } from "./session.svelte";

describe("allows", () => {
  it("lets everyone do everything without accounts", () => {
    expect(allows(null, "admin")).toBe(true);
    expect(needs(null, "admin", "Training")).toBeNull();
  });

  it("orders the roles annotator < reviewer < admin", () => {
    const ann = { name: "ann", role: "annotator" as const };
    const rev = { name: "rev", role: "reviewer" as const };
    const adm = { name: "adm", role: "admin" as const };
    expect([ann, rev, adm].map((u) => allows(u, "annotator"))).toEqual([true, true, true]);
    expect([ann, rev, adm].map((u) => allows(u, "reviewer"))).toEqual([false, true, true]);
    expect([ann, rev, adm].map((u) => allows(u, "admin"))).toEqual([false, false, true]);
    expect(needs(ann, "admin", "Adding a folder")).toBe(
      "Adding a folder needs an admin; you are signed in as ann (annotator)",
    );
  });
});
