//! Training jobs over the HTTP API: start, poll, stream, cancel.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::tests::{Fixture, call, demo_library, get, get_json, post_json};
use crate::{AppState, router};

/// The demo library with a patient split `s` (train / val / test).
fn split_library() -> Fixture {
    let fx = demo_library(6);
    pairlab_core::demo::split_by_patient(&fx.lib, "s").expect("split");
    fx
}

async fn start(app: &Router, body: Value) -> u64 {
    let (status, v) = post_json(app, "/api/runs", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    v["job"].as_u64().expect("job id")
}

/// Polls the job until it leaves `running`.
async fn wait(app: &Router, job: u64) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) = get_json(app, &format!("/api/jobs/{job}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["status"] != "running" {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "job still running: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_train_job_runs_to_done_with_a_run() {
    let fx = split_library();
    let app = router(AppState::new(&fx.lib));
    let job = start(
        &app,
        json!({"split": "s", "trainer": "cnn", "epochs": 2, "size": 16, "seed": 3}),
    )
    .await;
    let end = wait(&app, job).await;
    assert_eq!(end["status"], "done", "{end}");
    assert_eq!(end["kind"], "train");
    assert_eq!(end["stage"], "training", "{end}");
    assert!(end["total"].as_u64().expect("total") > 0, "{end}");
    assert_eq!(end["position"], end["total"], "{end}");
    let run = end["result"]["run_id"].as_i64().expect("run id");
    assert!(run > 0);

    let (status, v) = get_json(&app, &format!("/api/runs/{run}")).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::OK, Some("done")),
        "{v}"
    );
    let (status, v) = get_json(&app, "/api/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v.as_array().expect("runs").len(), 1);
    // The curves: one row per epoch, with losses and validation accuracy.
    let (status, v) = get_json(&app, &format!("/api/runs/{run}/epochs")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let epochs = v.as_array().expect("epochs");
    assert_eq!(epochs.len(), 2, "{v}");
    assert_eq!(epochs[1]["epoch"], 2);
    assert!(
        epochs[0]["val_loss"].as_f64().expect("val loss") > 0.0,
        "{v}"
    );
    let acc = epochs[0]["val_accuracy"].as_f64().expect("val accuracy");
    assert!((0.0..=1.0).contains(&acc), "{v}");
    let (status, _) = get_json(&app, "/api/runs/424242/epochs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = get_json(&app, &format!("/api/runs/{run}/eval?part=test")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["run_id"], run);
    let (status, v) = get_json(&app, "/api/leakage?split=s").await;
    assert_eq!(
        (status, v["split"].as_str()),
        (StatusCode::OK, Some("s")),
        "{v}"
    );

    // The event stream of a finished job: its final state, then the end.
    let (status, headers, body) = call(&app, get(&format!("/api/jobs/{job}/events"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("event: job"), "{text}");
    assert!(text.contains("\"status\":\"done\""), "{text}");

    let (status, jobs) = get_json(&app, "/api/jobs").await;
    assert_eq!(
        (status, jobs.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
}

#[tokio::test]
async fn a_train_job_can_be_cancelled() {
    let fx = split_library();
    let app = router(AppState::new(&fx.lib));
    let job = start(
        &app,
        json!({"split": "s", "trainer": "cnn", "epochs": 10000, "size": 16}),
    )
    .await;
    // Let it get going (its first batch), then cancel at once: a small net on a few
    // images can stop early within a fraction of a second, so a fixed wait may find it
    // done. Its stream follows it to the end.
    let started = Instant::now();
    loop {
        let (_, v) = get_json(&app, &format!("/api/jobs/{job}")).await;
        if v["position"].as_u64().is_some_and(|p| p > 0) || v["status"] != "running" {
            assert_eq!(
                v["status"], "running",
                "it ended before it could be cancelled: {v}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress: {v}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let events = tokio::spawn({
        let app = app.clone();
        async move { call(&app, get(&format!("/api/jobs/{job}/events"))).await }
    });
    let (status, v) = post_json(&app, &format!("/api/jobs/{job}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["cancel_requested"], true);
    let end = wait(&app, job).await;
    assert_eq!(end["status"], "cancelled", "{end}");
    assert_eq!(end["error"]["kind"], "cancelled", "{end}");
    let (_, _, body) = events.await.expect("events task");
    assert!(String::from_utf8_lossy(&body).contains("\"status\":\"cancelled\""));
}

#[tokio::test]
async fn bad_train_requests_and_unknown_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(dir.path()));
    let (status, v) = post_json(
        &app,
        "/api/runs",
        json!({"split": "s", "uncertain": "maybe"}),
    )
    .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid")),
        "{v}"
    );
    let (status, v) = post_json(&app, "/api/runs", json!({"split": "s", "epochz": 3})).await;
    assert!(status.is_client_error(), "{v}");
    // Settings no run should start with are refused before any job starts.
    for bad in [
        json!({"split": "s", "epochs": 0}),
        json!({"split": "s", "epochs": 1_000_000}),
        json!({"split": "s", "lr": -1.0}),
        json!({"split": "s", "trainer": "cnn", "size": 100_000}),
        json!({"split": "s", "hidden": 1_000_000}),
    ] {
        let (status, v) = post_json(&app, "/api/runs", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (_, jobs) = get_json(&app, "/api/jobs").await;
    assert_eq!(jobs, json!([]), "no job was started");
    // A split that does not exist: the job starts, then fails with core's error.
    let job = start(&app, json!({"split": "nope", "trainer": "cnn"})).await;
    let end = wait(&app, job).await;
    assert_eq!(end["status"], "failed", "{end}");
    assert_eq!(end["error"]["kind"], "not_found", "{end}");
    let (status, _) = get_json(&app, "/api/jobs/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_json(&app, "/api/jobs/999/cancel", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Four annotators label while a training job writes its epochs and predictions: every
/// label request succeeds and the run finishes; the write latencies are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn writers_succeed_while_a_run_trains() {
    let fx = split_library();
    let app = router(AppState::new(&fx.lib));
    let job = start(
        &app,
        json!({"split": "s", "trainer": "cnn", "epochs": 30, "size": 16}),
    )
    .await;
    let writers: Vec<_> = (1..=4i64)
        .map(|pair| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                for i in 0..40 {
                    let value = [json!(1), json!(0), json!(-1), json!(null)][i % 4].clone();
                    let started = Instant::now();
                    let (status, v) = post_json(
                        &app,
                        "/api/labels",
                        json!({"pair": pair, "class": "Edema", "value": value,
                               "annotator": format!("ann{pair}")}),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK, "{v}");
                    took.push(started.elapsed());
                }
                took
            })
        })
        .collect();
    let mut took = Vec::new();
    for w in writers {
        took.extend(w.await.expect("writer"));
    }
    let end = wait(&app, job).await;
    assert_eq!(end["status"], "done", "{end}");
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "4 writers while training, {} writes: p50 {:?}, p95 {:?}, max {:?}",
        took.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}

/// A POST whose endpoint takes no arguments may come without a body (`curl -X POST -H
/// 'Content-Type: application/json' …/cancel`): it is read as `{}`; a body that is there
/// must still be JSON.
#[tokio::test]
async fn a_post_without_a_body_has_no_arguments() {
    let fx = demo_library(2);
    let app = router(AppState::new(&fx.lib));
    let empty = Request::post("/api/jobs/7/cancel")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, "0")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(&app, empty).await;
    let (status, v) = crate::tests::json_of(status, &body);
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{v}"
    );
    let bad = Request::post("/api/jobs/7/cancel")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from("{"))
        .expect("request");
    let (status, _, body) = call(&app, bad).await;
    let (status, v) = crate::tests::json_of(status, &body);
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid")),
        "{v}"
    );
}

#[tokio::test]
async fn an_export_and_an_uploaded_label_file_run_as_jobs() {
    let fx = split_library();
    let app = router(AppState::new(&fx.lib));
    let out = fx.lib.join("export");
    let (status, v) = post_json(
        &app,
        "/api/exports",
        json!({"format": "csv", "out": out, "split": "s", "labels": "best", "dicom": "png"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let end = wait(&app, v["job"].as_u64().expect("job")).await;
    assert_eq!(end["status"], "done", "{end}");
    assert_eq!(end["kind"], "export");
    let rows = end["result"]["rows"].as_u64().expect("rows");
    assert!(rows > 0, "{end}");
    assert!(out.join("train.csv").is_file());
    // A label file of 3 MB (past the 2 MB every other body is held to) uploads: one row
    // matched, the rest unmatched.
    let mut content = String::from("pair_id,Edema\n1,1\n");
    while content.len() < 3 << 20 {
        content.push_str("99999999,1\n");
    }
    let body = json!({"content": content, "name": "big.csv", "source": "import"});
    let (status, v) = post_json(&app, "/api/labels/imports", body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let end = wait(&app, v["job"].as_u64().expect("job")).await;
    assert_eq!(end["status"], "done", "{end}");
    assert_eq!(end["result"]["matched"], 1, "{}", end["result"]["matched"]);
    assert!(end["result"]["unmatched"].as_u64().expect("unmatched") > 100_000);
    let id = end["result"]["import_id"].as_i64().expect("import id");
    let (_, listed) = get_json(&app, "/api/labels/imports").await;
    assert_eq!(listed[0]["id"], id, "{listed}");
    let (status, undone) = post_json(
        &app,
        &format!("/api/labels/imports/{id}/undo"),
        json!({"annotator": "dr-a"}),
    )
    .await;
    assert_eq!(
        (status, undone["reverted"].clone()),
        (StatusCode::OK, json!(1))
    );
    // Other routes keep axum's 2 MB limit.
    let (status, _) = post_json(&app, "/api/browse", json!({"filter": {"text": content}})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_split_and_report_pre_labels_are_made_from_the_api() {
    let fx = split_library();
    let app = router(AppState::new(&fx.lib));
    let (status, v) = post_json(
        &app,
        "/api/splits",
        json!({"name": "by-patient", "ratios": "0.5,0.5"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["strategy"], "patient", "{v}");
    let (_, all) = get_json(&app, "/api/splits").await;
    assert!(
        all.as_array()
            .expect("splits")
            .iter()
            .any(|s| s["name"] == "by-patient"),
        "{all}"
    );
    let (status, v) = post_json(
        &app,
        "/api/prelabel",
        json!({"schema": "chexpert", "from": "reports"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let end = wait(&app, v["job"].as_u64().expect("job")).await;
    assert_eq!(
        (end["status"].clone(), end["kind"].clone()),
        (json!("done"), json!("prelabel")),
        "{end}"
    );
    assert!(
        end["result"]["labels"].as_u64().expect("labels") > 0,
        "{end}"
    );
    // A source the server does not know is refused before any job starts.
    let (status, v) = post_json(
        &app,
        "/api/prelabel",
        json!({"schema": "chexpert", "from": "tea leaves"}),
    )
    .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid")),
        "{v}"
    );
}
