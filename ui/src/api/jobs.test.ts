import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobState } from "../bindings/JobState";
import { api } from "./api";
import { cancelShown, startedJob } from "./jobs";

describe("cancelShown", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows the server's answer while the job still shows as running", async () => {
    let shown: JobState | null = startedJob(4, "index");
    vi.spyOn(api, "cancelJob").mockResolvedValue({ ...startedJob(4, "index"), cancel_requested: true });
    await cancelShown(() => shown, (s) => (shown = s));
    expect(shown?.cancel_requested).toBe(true);
  });

  it("never takes a job that ended meanwhile back to running", async () => {
    let shown: JobState | null = startedJob(4, "index");
    vi.spyOn(api, "cancelJob").mockImplementation(async () => {
      // The job's stream delivers its end while the cancel request is under way.
      shown = { ...startedJob(4, "index"), status: "done" };
      return { ...startedJob(4, "index"), cancel_requested: true };
    });
    await cancelShown(() => shown, (s) => (shown = s));
    expect(shown?.status).toBe("done");
  });

  it("asks nothing without a job, and passes a refusal on", async () => {
    const cancel = vi.spyOn(api, "cancelJob").mockRejectedValue(new Error("no job 9"));
    await cancelShown(() => null, () => {});
    expect(cancel).not.toHaveBeenCalled();
    await expect(cancelShown(() => startedJob(9, "map"), () => {})).rejects.toThrow("no job 9");
  });
});
