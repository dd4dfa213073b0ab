import { describe, expect, it } from "vitest";
import { labelNext, noteLabelled, RETRAIN_AFTER, retrainDue, stopLabelNext } from "./labelNext.svelte";

describe("the label-next queue's retrain offer", () => {
  it("comes once per RETRAIN_AFTER labelled pairs, each pair counted once", () => {
    stopLabelNext();
    labelNext.active = true;
    const offers: number[] = [];
    for (let pair = 1; pair <= 2 * RETRAIN_AFTER + 5; pair++) {
      noteLabelled(pair);
      noteLabelled(pair);
      // Stepping on twice per pair: the offer must not repeat.
      for (const _ of [0, 1]) if (retrainDue()) offers.push(labelNext.labelled.length);
    }
    expect(offers).toEqual([RETRAIN_AFTER, 2 * RETRAIN_AFTER]);
    stopLabelNext();
    expect(retrainDue()).toBe(false);
  });
});
