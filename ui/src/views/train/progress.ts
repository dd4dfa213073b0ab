// Pure helpers of the Train view: ETA from progress samples, the job's message line, the
// form's defaults and the request built from it.
import type { TrainArgs } from "../../bindings/TrainArgs";
import type { DeviceChoice } from "../../bindings/DeviceChoice";
import type { Fusion } from "../../bindings/Fusion";
import type { ModelRecord } from "../../bindings/ModelRecord";
import type { Section } from "../../bindings/Section";
import type { Trainer } from "../../bindings/Trainer";

export interface Sample {
  /** Milliseconds (any clock, increasing). */
  t: number;
  position: number;
}

/**
 * Seconds left for a stage at `total`, from samples of its progress: the average rate since
 * the first sample, blended towards the recent rate (the last `window` samples) so that a slow
 * start (loading, first epoch) does not dominate. Null until the rate is known.
 */
export function estimateEta(samples: Sample[], total: number, window = 8): number | null {
  if (samples.length < 2 || total <= 0) return null;
  const last = samples[samples.length - 1];
  if (last.position >= total) return 0;
  const rate = (a: Sample, b: Sample) => (b.t > a.t && b.position > a.position ? (b.position - a.position) / (b.t - a.t) : null);
  const overall = rate(samples[0], last);
  if (overall === null) return null;
  const recent = rate(samples[Math.max(0, samples.length - 1 - window)], last) ?? overall;
  const r = 0.5 * overall + 0.5 * recent;
  return (total - last.position) / r / 1000;
}

/** Keeps the samples of one stage: starts over when the stage changes or progress goes back. */
export function addSample(samples: Sample[], s: Sample, max = 200): Sample[] {
  const last = samples[samples.length - 1];
  if (last && s.position < last.position) return [s];
  if (last && s.position === last.position) return samples;
  const out = [...samples, s];
  return out.length > max ? [out[0], ...out.slice(out.length - max + 1)] : out;
}

/** "1 h 02 min", "3 min 05 s", "42 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export interface TrainLine {
  epoch: number | null;
  epochs: number | null;
  /** True once `epoch` is finished ("epoch 2/6 done …"), false while it trains. */
  done: boolean;
  loss: number | null;
  valLoss: number | null;
  acc: number | null;
  /** Multi-label runs: the macro validation AUROC. */
  auroc: number | null;
}

/** Epochs finished according to a line: `epoch` once done, the one before while training. */
export function epochsDone(line: TrainLine): number {
  return line.epoch === null ? 0 : line.done ? line.epoch : line.epoch - 1;
}

/** Reads "epoch 2/6 loss 0.4770 · val loss 0.4528 acc 0.767" or "epoch 2/6 done · loss …
 *  auroc 0.81" (any part may be missing). */
export function parseTrainMessage(msg: string | null | undefined): TrainLine {
  const out: TrainLine = { epoch: null, epochs: null, done: false, loss: null, valLoss: null, acc: null, auroc: null };
  if (!msg) return out;
  const num = (re: RegExp) => {
    const m = msg.match(re);
    return m ? Number(m[1]) : null;
  };
  const ep = msg.match(/epoch\s+(\d+)\s*\/\s*(\d+)(\s+done)?/i);
  if (ep) {
    out.epoch = Number(ep[1]);
    out.epochs = Number(ep[2]);
    out.done = ep[3] !== undefined;
  }
  out.loss = num(/(?<!val\s)\bloss\s+([0-9.eE+-]+)/i);
  out.valLoss = num(/val\s+loss\s+([0-9.eE+-]+)/i);
  out.acc = num(/\bacc(?:uracy)?\s+([0-9.eE+-]+)/i);
  out.auroc = num(/\bauroc\s+([0-9.eE+-]+)/i);
  return out;
}

export type { Trainer };
export type Uncertain = "ignore" | "zeros" | "ones";

export interface TrainForm {
  schema: string;
  split: string;
  trainer: Trainer;
  /** head: the model whose embeddings it learns from; finetune: the backbone. */
  model: string;
  epochs: number;
  lr: number;
  /** cnn: pixels; finetune: pixels, 0 = the backbone's input size. */
  size: number;
  hidden: number;
  uncertain: Uncertain;
  seed: number;
  /** finetune and text: "head", a number of stages or layers ("1", "2", …) or "all". */
  unfreeze: string;
  batch: number;
  device: DeviceChoice;
  /** text and fusion: the BERT-family text model that reads the reports. */
  textModel: string;
  textSection: Section;
  fusion: Fusion;
}

/** What a run learns from: the image, the report, or both (the trainers of each). */
export type Inputs = "image" | "report" | "both";

export function inputsOf(trainer: Trainer): Inputs {
  return trainer === "text" ? "report" : trainer === "fusion" ? "both" : "image";
}

/** The trainer a choice of inputs starts with. */
export function trainerFor(inputs: Inputs, current: Trainer): Trainer {
  if (inputs === "report") return "text";
  if (inputs === "both") return "fusion";
  return inputsOf(current) === "image" ? current : "cnn";
}

/** Text models: BERT-family encoders (a CLIP's text tower is not offered). */
export function textModels(models: ModelRecord[]): ModelRecord[] {
  return models.filter((m) => m.family === "bert");
}

/** Each trainer's own learning rate, as core's `runs::default_lr`. */
export const DEFAULT_LR: Record<TrainForm["trainer"], number> = { cnn: 0.001, head: 0.01, finetune: 0.001, text: 0.001, fusion: 0.001 };

/** Image models a trainer can use: image embeddings for `head` and `fusion`, image
 * classifiers for `finetune`; none for `text`. */
export function modelsFor(trainer: Trainer, models: ModelRecord[]): ModelRecord[] {
  if (trainer === "finetune") return models.filter((m) => ["resnet", "densenet", "vit", "clip"].includes(m.family));
  if (trainer === "text") return [];
  return models.filter((m) => m.images);
}

/** The form with another trainer; a learning rate left at the old trainer's default
 * follows to the new one's, and so does the image size (the CNN's 32 px, the backbone's own). */
export function withTrainer(f: TrainForm, trainer: TrainForm["trainer"]): TrainForm {
  const lr = f.lr === DEFAULT_LR[f.trainer] ? DEFAULT_LR[trainer] : f.lr;
  let size = f.size;
  if (trainer === "finetune" && f.trainer !== "finetune" && f.size === 32) size = 0;
  if (trainer === "cnn" && f.size === 0) size = 32;
  return { ...f, trainer, lr, size };
}

/** Defaults that train the demo library in seconds: a small CNN on 32 px images. */
export function defaultForm(schemas: string[], splits: string[]): TrainForm {
  return {
    schema: schemas.includes("chexpert") ? "chexpert" : (schemas[0] ?? ""),
    split: splits[0] ?? "",
    trainer: "cnn",
    model: "",
    epochs: 15,
    lr: DEFAULT_LR.cnn,
    size: 32,
    hidden: 0,
    uncertain: "ignore",
    seed: 0,
    unfreeze: "head",
    batch: 16,
    device: "auto",
    textModel: "",
    textSection: "both",
    fusion: "concat",
  };
}

/** What is wrong with the form, field by field (empty when it can be started). */
export function validate(f: TrainForm): Partial<Record<keyof TrainForm, string>> {
  const e: Partial<Record<keyof TrainForm, string>> = {};
  if (!f.schema) e.schema = "Choose a schema";
  if (!f.split) e.split = "Choose a split (make one with `pairlab split`)";
  if (f.trainer === "head" && !f.model) e.model = "The head trainer needs a model with image embeddings";
  if (f.trainer === "finetune" && !f.model) e.model = "Choose a backbone (a registered ResNet, DenseNet, ViT or CLIP model)";
  if (f.trainer === "finetune" && f.size !== 0 && (!Number.isInteger(f.size) || f.size < 32 || f.size > 1024)) e.size = "0 (the backbone's) or 32 to 1024 px";
  if (f.trainer === "finetune" && (!Number.isInteger(f.batch) || f.batch < 1 || f.batch > 1024)) e.batch = "1 to 1024";
  if ((f.trainer === "finetune" || f.trainer === "text") && !/^(head|all|[1-9]|[1-5][0-9]|6[0-4])$/.test(f.unfreeze)) e.unfreeze = "head, a number of stages, or all";
  if (f.trainer === "fusion" && !f.model) e.model = "The fusion trainer needs a model with image embeddings";
  if ((f.trainer === "text" || f.trainer === "fusion") && !f.textModel) e.textModel = "Choose a text model (a registered BERT-family encoder)";
  if (f.trainer === "text" && (!Number.isInteger(f.batch) || f.batch < 1 || f.batch > 1024)) e.batch = "1 to 1024";
  if (!Number.isInteger(f.epochs) || f.epochs < 1 || f.epochs > 10000) e.epochs = "1 to 10000";
  if (!(f.lr > 0 && f.lr <= 10)) e.lr = "Greater than 0";
  if (f.trainer === "cnn" && (!Number.isInteger(f.size) || f.size < 8 || f.size > 1024)) e.size = "8 to 1024 px";
  if ((f.trainer === "head" || f.trainer === "fusion") && (!Number.isInteger(f.hidden) || f.hidden < 0 || f.hidden > 65536)) e.hidden = "0 (linear) or more";
  if (!Number.isInteger(f.seed) || f.seed < 0) e.seed = "A whole number ≥ 0";
  return e;
}

/** The start_train request: only the fields of the chosen trainer. */
export function toTrainArgs(f: TrainForm): TrainArgs & { trainer: Trainer } {
  const args: TrainArgs & { trainer: Trainer } = {
    schema: f.schema,
    split: f.split,
    trainer: f.trainer,
    epochs: f.epochs,
    lr: f.lr,
    uncertain: f.uncertain,
    seed: f.seed,
  };
  if (f.trainer === "cnn") args.size = f.size;
  else if (f.trainer === "text") {
    args.text_model = f.textModel;
    args.text_section = f.textSection;
    args.unfreeze = f.unfreeze;
    args.batch = f.batch;
    args.device = f.device;
  } else if (f.trainer === "fusion") {
    args.model = f.model;
    args.text_model = f.textModel;
    args.text_section = f.textSection;
    args.fusion = f.fusion;
    args.hidden = f.hidden;
  } else if (f.trainer === "finetune") {
    args.model = f.model;
    if (f.size > 0) args.size = f.size;
    args.unfreeze = f.unfreeze;
    args.batch = f.batch;
    args.device = f.device;
  } else {
    args.model = f.model;
    args.hidden = f.hidden;
  }
  return args;
}
