// Generated from pairlab-core's api::routes::ROUTES by `cargo test` (bindings test);
// do not edit. Regenerate: PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings

export const ROUTES = {
  health: { method: "GET", path: "/api/health", kind: "json" },
  stats: { method: "GET", path: "/api/stats", kind: "json" },
  search: { method: "GET", path: "/api/search", kind: "json" },
  errors: { method: "GET", path: "/api/errors", kind: "json" },
  pairs: { method: "GET", path: "/api/pairs", kind: "json" },
  browse: { method: "POST", path: "/api/browse", kind: "json" },
  pair: { method: "GET", path: "/api/pairs/{id}", kind: "json" },
  history: { method: "GET", path: "/api/pairs/{id}/history", kind: "json" },
  labels: { method: "GET", path: "/api/pairs/{id}/labels", kind: "json" },
  evidence: { method: "GET", path: "/api/pairs/{id}/evidence", kind: "json" },
  review_status: { method: "GET", path: "/api/pairs/{id}/review", kind: "json" },
  image: { method: "GET", path: "/api/pairs/{id}/image", kind: "file" },
  thumb: { method: "GET", path: "/api/pairs/{id}/thumb", kind: "file" },
  schemas: { method: "GET", path: "/api/schemas", kind: "json" },
  splits: { method: "GET", path: "/api/splits", kind: "json" },
  leakage: { method: "GET", path: "/api/leakage", kind: "json" },
  runs: { method: "GET", path: "/api/runs", kind: "json" },
  start_train: { method: "POST", path: "/api/runs", kind: "json" },
  run: { method: "GET", path: "/api/runs/{id}", kind: "json" },
  run_epochs: { method: "GET", path: "/api/runs/{id}/epochs", kind: "json" },
  evaluate: { method: "GET", path: "/api/runs/{id}/eval", kind: "json" },
  misclassified: { method: "GET", path: "/api/runs/{id}/misclassified", kind: "json" },
  models: { method: "GET", path: "/api/models", kind: "json" },
  set_label: { method: "POST", path: "/api/labels", kind: "json" },
  undo: { method: "POST", path: "/api/undo", kind: "json" },
  redo: { method: "POST", path: "/api/redo", kind: "json" },
  set_review: { method: "POST", path: "/api/review", kind: "json" },
  start_index: { method: "POST", path: "/api/corpora", kind: "json" },
  jobs: { method: "GET", path: "/api/jobs", kind: "json" },
  job: { method: "GET", path: "/api/jobs/{id}", kind: "json" },
  job_events: { method: "GET", path: "/api/jobs/{id}/events", kind: "stream" },
  cancel_job: { method: "POST", path: "/api/jobs/{id}/cancel", kind: "json" },
} as const;

export type RouteName = keyof typeof ROUTES;
