import { describe, expect, it } from "vitest";
import { addSample, defaultForm, epochsDone, estimateEta, formatDuration, inputsOf, modelsFor, parseTrainMessage, textModels, toTrainArgs, trainerFor, validate, withTrainer } from "./progress";
import type { ModelRecord } from "../../bindings/ModelRecord";

describe("estimateEta", () => {
  it("needs two samples and progress", () => {
    expect(estimateEta([], 10)).toBeNull();
    expect(estimateEta([{ t: 0, position: 1 }], 10)).toBeNull();
    expect(estimateEta([{ t: 0, position: 1 }, { t: 1000, position: 1 }], 10)).toBeNull();
  });
  it("extrapolates a steady rate", () => {
    // 1 unit per second, 6 of 10 done: 4 s left.
    const s = [0, 1, 2, 3, 4, 5].map((i) => ({ t: i * 1000, position: i + 1 }));
    expect(estimateEta(s, 10)).toBeCloseTo(4);
  });
  it("leans towards the recent rate after a slow start", () => {
    // First unit took 10 s, then 1 unit per second.
    const s = [{ t: 0, position: 0 }, { t: 10000, position: 1 }];
    for (let i = 1; i <= 9; i++) s.push({ t: 10000 + i * 1000, position: 1 + i });
    const eta = estimateEta(s, 20)!;
    const overallOnly = (20 - 10) / (10 / 19);
    expect(eta).toBeLessThan(overallOnly);
    expect(eta).toBeGreaterThan(10);
  });
  it("is zero when done", () => {
    expect(estimateEta([{ t: 0, position: 1 }, { t: 5, position: 10 }], 10)).toBe(0);
  });
});

describe("addSample", () => {
  it("appends progress, ignores repeats and restarts on a new stage", () => {
    let s = addSample([], { t: 0, position: 1 });
    s = addSample(s, { t: 10, position: 1 });
    s = addSample(s, { t: 20, position: 2 });
    expect(s).toEqual([{ t: 0, position: 1 }, { t: 20, position: 2 }]);
    expect(addSample(s, { t: 30, position: 0 })).toEqual([{ t: 30, position: 0 }]);
  });
  it("keeps the first sample when trimming", () => {
    let s = [{ t: 0, position: 0 }];
    for (let i = 1; i < 10; i++) s = addSample(s, { t: i, position: i }, 4);
    expect(s.map((x) => x.position)).toEqual([0, 7, 8, 9]);
  });
});

describe("formatDuration", () => {
  it("formats seconds, minutes and hours", () => {
    expect(formatDuration(42.4)).toBe("42 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(3720)).toBe("1 h 02 min");
    expect(formatDuration(null)).toBe("–");
  });
});

describe("parseTrainMessage", () => {
  it("reads the full line", () => {
    expect(parseTrainMessage("epoch 2/6 loss 0.4770 · val loss 0.4528 acc 0.767")).toEqual({
      epoch: 2, epochs: 6, done: false, loss: 0.477, valLoss: 0.4528, acc: 0.767, auroc: null,
    });
  });
  it("reads a line without validation", () => {
    expect(parseTrainMessage("epoch 1/3 loss 0.5811")).toEqual({
      epoch: 1, epochs: 3, done: false, loss: 0.5811, valLoss: null, acc: null, auroc: null,
    });
    expect(parseTrainMessage(null).epoch).toBeNull();
  });
  it("tells a finished epoch from one in training, and reads a multi-label AUROC", () => {
    const done = parseTrainMessage("epoch 1/6 done · loss 0.3100 · val loss 0.2900 auroc 0.812");
    expect(done).toMatchObject({ epoch: 1, done: true, loss: 0.31, valLoss: 0.29, auroc: 0.812, acc: null });
    expect(epochsDone(done)).toBe(1);
    // The next epoch's batches: one epoch is finished, not two.
    expect(epochsDone(parseTrainMessage("epoch 2/6 loss 0.3 · val loss 0.29 auroc 0.812"))).toBe(1);
    expect(epochsDone(parseTrainMessage(null))).toBe(0);
  });
});

describe("train form", () => {
  it("defaults to a quick CNN on chexpert", () => {
    const f = defaultForm(["view", "chexpert"], ["demo-by-patient"]);
    expect(f).toMatchObject({ schema: "chexpert", split: "demo-by-patient", trainer: "cnn", size: 32, epochs: 15, lr: 0.001 });
    expect(validate(f)).toEqual({});
  });
  it("flags missing and out-of-range fields", () => {
    const f = { ...defaultForm([], []), epochs: 0, lr: 0, trainer: "head" as const };
    expect(Object.keys(validate(f)).sort()).toEqual(["epochs", "lr", "model", "schema", "split"]);
  });
  it("sends only the chosen trainer's fields", () => {
    const f = defaultForm(["chexpert"], ["s"]);
    expect(toTrainArgs(f)).toEqual({ schema: "chexpert", split: "s", trainer: "cnn", epochs: 15, lr: 0.001, uncertain: "ignore", seed: 0, size: 32 });
    const h = toTrainArgs({ ...f, trainer: "head", model: "clip", hidden: 128 });
    expect(h.size).toBeUndefined();
    expect(h).toMatchObject({ trainer: "head", model: "clip", hidden: 128 });
  });
  it("sends a fine-tuning run's backbone, unfreezing, batch and device; size only when chosen", () => {
    const f = withTrainer(defaultForm(["chexpert"], ["s"]), "finetune");
    expect(f).toMatchObject({ trainer: "finetune", lr: 0.001, size: 0 });
    expect(Object.keys(validate(f))).toEqual(["model"]);
    const args = toTrainArgs({ ...f, model: "xrv", unfreeze: "2", batch: 8 });
    expect(args).toMatchObject({ trainer: "finetune", model: "xrv", unfreeze: "2", batch: 8, device: "auto" });
    expect(args.size).toBeUndefined();
    expect(toTrainArgs({ ...f, model: "xrv", size: 128 }).size).toBe(128);
    expect(Object.keys(validate({ ...f, model: "x", size: 16, batch: 0, unfreeze: "most" })).sort()).toEqual(["batch", "size", "unfreeze"]);
    expect(withTrainer(f, "cnn").size).toBe(32);
  });
  it("offers image classifiers to fine-tune and image embedders to a head", () => {
    const m = (name: string, family: string, images: boolean) => ({ name, family, images }) as ModelRecord;
    const all = [
      m("clip", "clip", true),
      m("bert", "bert", false),
      m("r50", "resnet", true),
      m("xrv", "densenet", true),
      m("vit", "vit", true),
      m("siglip", "siglip", true),
    ];
    expect(modelsFor("finetune", all).map((x) => x.name)).toEqual(["clip", "r50", "xrv", "vit"]);
    expect(modelsFor("head", all).map((x) => x.name)).toEqual(["clip", "r50", "xrv", "vit", "siglip"]);
    expect(modelsFor("fusion", all).map((x) => x.name)).toEqual(["clip", "r50", "xrv", "vit", "siglip"]);
    expect(modelsFor("text", all)).toEqual([]);
    expect(textModels(all).map((x) => x.name)).toEqual(["bert"]);
  });
  it("maps inputs to trainers: report → text, both → fusion, image keeps an image trainer", () => {
    expect(trainerFor("report", "head")).toBe("text");
    expect(trainerFor("both", "cnn")).toBe("fusion");
    expect(trainerFor("image", "finetune")).toBe("finetune");
    expect(trainerFor("image", "fusion")).toBe("cnn");
    expect(inputsOf("text")).toBe("report");
    expect(inputsOf("fusion")).toBe("both");
    expect(inputsOf("head")).toBe("image");
  });
  it("sends a text run's text model, section, unfreezing and batch; a fusion run's two models", () => {
    const f = withTrainer(defaultForm(["chexpert"], ["s"]), "text");
    expect(Object.keys(validate(f))).toEqual(["textModel"]);
    const t = toTrainArgs({ ...f, textModel: "minilm", unfreeze: "2", textSection: "impression" });
    expect(t).toEqual({
      schema: "chexpert", split: "s", trainer: "text", epochs: 15, lr: 0.001, uncertain: "ignore", seed: 0,
      text_model: "minilm", text_section: "impression", unfreeze: "2", batch: 16, device: "auto",
    });
    const g = withTrainer(f, "fusion");
    expect(Object.keys(validate(g)).sort()).toEqual(["model", "textModel"]);
    const u = toTrainArgs({ ...g, model: "clip", textModel: "minilm", fusion: "attention", hidden: 64 });
    expect(u).toMatchObject({ trainer: "fusion", model: "clip", text_model: "minilm", fusion: "attention", hidden: 64, text_section: "both" });
    expect(u.unfreeze).toBeUndefined();
  });
  it("moves a default learning rate to the new trainer's, keeps a chosen one", () => {
    const f = defaultForm(["chexpert"], ["s"]);
    expect(withTrainer(f, "head")).toMatchObject({ trainer: "head", lr: 0.01 });
    expect(withTrainer(withTrainer(f, "head"), "cnn").lr).toBe(0.001);
    expect(withTrainer({ ...f, lr: 0.05 }, "head").lr).toBe(0.05);
  });
});
