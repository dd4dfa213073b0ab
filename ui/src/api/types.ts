// Wire types: generated from the Rust structs by ts-rs into ../bindings/, re-exported here,
// plus the narrower types the UI works with where the wire says `string` or `number`.
import type { Value } from "../bindings/Value";

export type { AnnotatorArgs } from "../bindings/AnnotatorArgs";
export type { BrowseArgs } from "../bindings/BrowseArgs";
export type { BrowseFilter } from "../bindings/BrowseFilter";
export type { BrowsePage } from "../bindings/BrowsePage";
export type { BrowseSort } from "../bindings/BrowseSort";
export type { CellArgs } from "../bindings/CellArgs";
export type { Ci } from "../bindings/Ci";
export type { ClassEval } from "../bindings/ClassEval";
export type { ConfusionMatrix } from "../bindings/ConfusionMatrix";
export type { CorpusInfo } from "../bindings/CorpusInfo";
export type { CurrentLabel } from "../bindings/CurrentLabel";
export type { EpochMetrics } from "../bindings/EpochMetrics";
export type { ErrorKind } from "../bindings/ErrorKind";
export type { ErrorRow } from "../bindings/ErrorRow";
export type { EvalReport } from "../bindings/EvalReport";
export type { Evidence } from "../bindings/Evidence";
export type { Health } from "../bindings/Health";
export type { ImageDetail } from "../bindings/ImageDetail";
export type { IndexArgs } from "../bindings/IndexArgs";
export type { IndexSummary } from "../bindings/IndexSummary";
export type { JobStarted } from "../bindings/JobStarted";
export type { JobState } from "../bindings/JobState";
export type { JobStatus } from "../bindings/JobStatus";
export type { LabelEvent } from "../bindings/LabelEvent";
export type { LabelRow } from "../bindings/LabelRow";
export type { LeakageArgs } from "../bindings/LeakageArgs";
export type { LeakageReport } from "../bindings/LeakageReport";
export type { Misclassified } from "../bindings/Misclassified";
export type { ModelRecord } from "../bindings/ModelRecord";
export type { PageArgs } from "../bindings/PageArgs";
export type { PairDetail } from "../bindings/PairDetail";
export type { PairRow } from "../bindings/PairRow";
export type { PartArgs } from "../bindings/PartArgs";
export type { PartCount } from "../bindings/PartCount";
export type { ReportDetail } from "../bindings/ReportDetail";
export type { ReviewStatus } from "../bindings/ReviewStatus";
export type { RunSummary } from "../bindings/RunSummary";
export type { Schema } from "../bindings/Schema";
export type { SchemaArgs } from "../bindings/SchemaArgs";
export type { SearchArgs } from "../bindings/SearchArgs";
export type { SearchHit } from "../bindings/SearchHit";
export type { SetLabelArgs } from "../bindings/SetLabelArgs";
export type { SetReviewArgs } from "../bindings/SetReviewArgs";
export type { Shared } from "../bindings/Shared";
export type { SplitRow } from "../bindings/SplitRow";
export type { SplitSummary } from "../bindings/SplitSummary";
export type { Stats } from "../bindings/Stats";
export type { TrainArgs } from "../bindings/TrainArgs";
export type { Value } from "../bindings/Value";
export type { JsonValue } from "../bindings/serde_json/JsonValue";

/** A label value a person sets: 1 positive, 0 negative, -1 uncertain (null is blank). */
export type LabelValue = 1 | 0 | -1;

/** The `status` of a ReviewStatus: a person's decision, else what the labels say. */
export type ReviewState = "unlabelled" | "pre-labelled" | "labelled" | ReviewDecision;

/** A decision a person makes on a pair (labelling a class is not one). */
export type ReviewDecision = "accepted" | "rejected" | "flagged";

/** Every review state with the words a filter shows, in core's order (labels::REVIEW_STATES). */
export const REVIEW_STATES: { state: ReviewState; text: string }[] = [
  { state: "unlabelled", text: "Unlabelled" },
  { state: "pre-labelled", text: "Pre-labelled, not reviewed" },
  { state: "labelled", text: "Labelled by hand, not accepted" },
  { state: "accepted", text: "Accepted" },
  { state: "rejected", text: "Rejected" },
  { state: "flagged", text: "Flagged" },
];

/** An evidence value: the labeler's enum name, or 1 / 0 / -1. */
export type EvidenceValue = Value | number;

/** The orders of the Browse grid (BrowseSort.by). */
export type SortBy = "id" | "mismatch" | "confidence" | "disagreement" | "label-issues";
