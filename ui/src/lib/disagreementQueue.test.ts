import { describe, expect, it } from "vitest";
import type { Disagreement } from "../bindings/Disagreement";
import { advance, choices, decisionOf, disagreementAt, disagreementQueue, stopDisagreements } from "./disagreementQueue.svelte";

const multiLabel: Disagreement = {
  pair_id: 7,
  class: "Edema",
  ratings: [
    { annotator: "ann", value: "1" },
    { annotator: "bob", value: "0" },
    { annotator: "cy", value: "0" },
  ],
  resolution: null,
};
const multiClass: Disagreement = { ...multiLabel, class: null, ratings: [{ annotator: "ann", value: "coat" }, { annotator: "bob", value: "shirt" }] };

describe("the disagreement queue", () => {
  it("takes a label key on the disputed class as the decision, and nothing else", () => {
    expect(decisionOf(multiLabel, "Edema", 1)).toBe("1");
    expect(decisionOf(multiLabel, "Edema", -1)).toBe("-1");
    expect(decisionOf(multiLabel, "Edema", null)).toBeNull();
    expect(decisionOf(multiLabel, "Atelectasis", 0)).toBeNull();
    // Multi-class: setting a class positive decides that class.
    expect(decisionOf(multiClass, "shirt", 1)).toBe("shirt");
    expect(decisionOf(multiClass, "shirt", 0)).toBeNull();
  });

  it("offers each value given, the most given first, with who gave it", () => {
    expect(choices(multiLabel)).toEqual([
      { value: "0", who: ["bob", "cy"] },
      { value: "1", who: ["ann"] },
    ]);
  });

  it("is at a disagreement only on its pair, and ends after the last", () => {
    Object.assign(disagreementQueue, { schema: "chexpert", items: [multiLabel, { ...multiLabel, pair_id: 9 }], index: 0 });
    expect(disagreementAt(7)).toBe(disagreementQueue.items[0]);
    expect(disagreementAt(9)).toBeNull();
    expect(advance()).toBe(true);
    expect(disagreementAt(9)?.pair_id).toBe(9);
    expect(advance()).toBe(false);
    expect(disagreementAt(9)).toBeNull();
    stopDisagreements();
    expect(disagreementAt(7)).toBeNull();
  });
});
