//! The API contract, one suite over three transports: core's API called in process, the
//! HTTP router (`pairlab serve`, without a socket) and the Tauri commands (tauri's mock
//! runtime, through the real invoke handler). Each transport gets its own copy of the same
//! library and the same sequence of calls; their answers must agree, and some must hold
//! what the contract promises. Also: the Tauri commands are exactly the route table's
//! JSON and streaming rows, and the `pairlab:` protocol serves its file rows.

#![allow(
    clippy::too_many_lines,
    reason = "a test reads as one scenario, top to bottom"
)]

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pairlab_app::{COMMANDS, protocol_response};
use pairlab_core::Library;
use pairlab_core::api::requests::*;
use pairlab_core::api::routes::{Kind, ROUTES};
use pairlab_core::progress::Silent;
use serde_json::{Value, json};
use tower::ServiceExt;

#[path = "contract/transports.rs"]
mod transports;
use transports::{Answer, Http, InProcess, Ipc, Refused, Transport, normalise};

/// A demo library (a few patients, report-rule pre-labels) in a temporary folder.
fn demo_library(tmp: &Path) -> PathBuf {
    pairlab_core::demo::prelabelled_library(tmp, 3, 7).expect("demo library")
}

/// The demo library with a patient split `s`, a short CNN run on it (run 1) and a
/// label-issue search over it (two fold runs, label issues 1).
fn trained_library(tmp: &Path) -> PathBuf {
    let dir = pairlab_core::demo::prelabelled_library(tmp, 8, 7).expect("demo library");
    pairlab_core::demo::split_by_patient(&dir, "s").expect("split");
    let mut lib = Library::open(&dir).expect("open");
    let args: TrainArgs = serde_json::from_value(
        json!({"split": "s", "trainer": "cnn", "size": 16, "epochs": 2, "lr": 0.003}),
    )
    .expect("train args");
    lib.train(&args.options().expect("options"), &Silent)
        .expect("train");
    let issues: pairlab_core::api::library_args::LabelIssueArgs = serde_json::from_value(json!({
        "train": {"split": "s", "trainer": "cnn", "size": 16, "epochs": 2, "lr": 0.003},
        "folds": 2
    }))
    .expect("label-issue args");
    lib.find_label_issues(&issues.options().expect("options"), &Silent)
        .expect("label issues");
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The calls of the suite, in order (later ones see what earlier ones wrote).
fn calls() -> Vec<(&'static str, Value)> {
    let label =
        |value: Value| json!({"pair": 2, "class": "Edema", "value": value, "annotator": "dr-a"});
    vec![
        ("stats", json!({})),
        ("schemas", json!({})),
        ("pairs", json!({"limit": 3})),
        ("pairs", json!({"after": 3, "limit": 2})),
        (
            "browse",
            json!({"filter": {"class": "Cardiomegaly", "value": "1"}, "limit": 2}),
        ),
        (
            "browse",
            json!({"filter": {"text": "effusion"}, "limit": 50}),
        ),
        ("browse", json!({"filter": {"part": "test"}})),
        ("browse", json!({"sort": {"by": "loudness"}})),
        ("search", json!({"q": "pleural effusion", "limit": 5})),
        ("pair", json!({"id": 1})),
        ("pair", json!({"id": 999_999})),
        ("labels", json!({"id": 1})),
        ("evidence", json!({"id": 1, "schema": "chexpert"})),
        ("evidence", json!({"id": 1, "schema": "no-such-schema"})),
        ("set_label", label(json!(1))),
        ("set_label", label(json!(1))),
        ("set_label", label(json!(-1))),
        ("set_label", label(json!(7))),
        ("labels", json!({"id": 2})),
        ("undo", json!({"annotator": "dr-a"})),
        ("labels", json!({"id": 2})),
        ("redo", json!({"annotator": "dr-a"})),
        ("undo", json!({"annotator": "someone-else"})),
        ("history", json!({"id": 2})),
        (
            "set_review",
            json!({"pair": 2, "status": "accepted", "annotator": "dr-a"}),
        ),
        ("review_status", json!({"id": 2})),
        (
            "set_review",
            json!({"pair": 2, "status": "sleepy", "annotator": "dr-a"}),
        ),
        ("browse", json!({"filter": {"source": "human"}})),
        ("splits", json!({})),
        ("runs", json!({})),
        ("run", json!({"id": 1})),
        ("run_epochs", json!({"id": 1})),
        ("pair_prediction", json!({"id": 1, "run": 1})),
        ("pair_prediction", json!({"id": 1, "run": 99})),
        ("evaluate", json!({"id": 1})),
        ("evaluate", json!({"id": 1, "part": "val"})),
        (
            "misclassified",
            json!({"id": 1, "class": "Cardiomegaly", "true": "1", "pred": "0"}),
        ),
        (
            "misclassified",
            json!({"id": 1, "class": "Cardiomegaly", "true": "maybe"}),
        ),
        ("misclassified", json!({"id": 1})),
        ("run", json!({"id": 42})),
        ("leakage", json!({"split": "s", "near": 2})),
        ("leakage", json!({"split": "nope"})),
        ("errors", json!({"limit": 5})),
        ("models", json!({})),
        (
            "browse",
            json!({"sort": {"by": "confidence", "run": 1, "desc": false}, "limit": 3}),
        ),
        // Counts last, so the positions of the calls above stay put.
        (
            "browse_count",
            json!({"filter": {"class": "Cardiomegaly", "value": "1"}}),
        ),
        ("browse_count", json!({"filter": {"text": "effusion"}})),
        ("browse_count", json!({"sort": {"by": "loudness"}})),
        ("me", json!({})),
        ("model_evidence", json!({"id": 1, "schema": "chexpert"})),
        ("labeler_status", json!({"schema": "chexpert"})),
        ("labeler_status", json!({"schema": "no-such-schema"})),
        ("label_imports", json!({})),
        ("undo_import", json!({"id": 99, "annotator": "dr-a"})),
        (
            "start_import_labels",
            json!({"file": "relative/labels.csv"}),
        ),
        ("start_import_labels", json!({"format": "xlsx"})),
        (
            "start_export",
            json!({"format": "jsonl", "out": "relative/folder"}),
        ),
        (
            "start_export",
            json!({"format": "parquet", "out": "/tmp/x"}),
        ),
        (
            "start_prelabel",
            json!({"schema": "chexpert", "from": "zero-shot"}),
        ),
        (
            "add_model",
            json!({"spec": "/nowhere/at/all/model.safetensors"}),
        ),
        ("make_split", json!({"name": "ui", "parts": "a,b,c,d"})),
        (
            "make_split",
            json!({"name": "ui", "strategy": "random", "ratios": "1,1", "seed": 3}),
        ),
        ("label_issue_sets", json!({})),
        ("label_issues", json!({"id": 1, "limit": 2})),
        ("label_issues", json!({"id": 99})),
        (
            "browse",
            json!({"sort": {"by": "label-issues", "issues": 1}, "limit": 3}),
        ),
        (
            "browse",
            json!({"filter": {"label_issues": 1}, "limit": 500}),
        ),
        (
            "start_label_issues",
            json!({"train": {"split": "s"}, "filter": "nope"}),
        ),
        (
            "resolve_label_issue",
            json!({"id": 1, "pair": 999_999, "class": "Edema", "outcome": "keep", "annotator": "dr-a"}),
        ),
        ("label_issues", json!({"id": 1, "open": true})),
        ("agreement", json!({"schema": "chexpert"})),
        (
            "assign",
            json!({"annotators": ["ann", "bob"], "fraction": 0.5, "seed": 1}),
        ),
        ("assign", json!({"annotators": ["ann"], "fraction": 0.5})),
        ("browse_count", json!({"filter": {"assigned": "bob"}})),
        (
            "queue_next",
            json!({"schema": "chexpert", "annotator": "dr-a"}),
        ),
        (
            "queue_next",
            json!({"schema": "chexpert", "annotator": "dr-b", "by": "margin"}),
        ),
        // Two annotators disagree on pair 3; a third person decides it.
        (
            "set_label",
            json!({"pair": 3, "class": "Edema", "value": 1, "annotator": "dr-a"}),
        ),
        (
            "set_label",
            json!({"pair": 3, "class": "Edema", "value": 0, "annotator": "dr-b"}),
        ),
        ("agreement", json!({"schema": "chexpert", "open": true})),
        (
            "resolve_disagreement",
            json!({"pair": 3, "class": "Edema", "value": "1", "annotator": "dr-c"}),
        ),
        ("agreement", json!({"schema": "chexpert", "open": true})),
        (
            "resolve_disagreement",
            json!({"pair": 999_999, "class": "Edema", "value": "1", "annotator": "dr-c"}),
        ),
        (
            "resolve_disagreement",
            json!({"pair": 3, "class": "Edema", "value": "2", "annotator": "dr-c"}),
        ),
    ]
}

#[test]
fn the_three_transports_answer_the_same_and_keep_the_contract() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = trained_library(tmp.path());
    let dirs: Vec<PathBuf> = (0..3)
        .map(|k| {
            let d = tmp.path().join(format!("copy{k}"));
            copy_dir(&base, &d);
            d
        })
        .collect();
    let http = Http {
        app: pairlab_server::router(pairlab_server::AppState::new(&dirs[1])),
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    let transports: Vec<(&str, Box<dyn Transport>)> = vec![
        (
            "in-process",
            Box::new(InProcess(pairlab_core::jobs::Jobs::new(&dirs[0]))),
        ),
        ("http", Box::new(http)),
        ("tauri", Box::new(Ipc::new(dirs[2].clone()))),
    ];
    let mut answers: Vec<Vec<Answer>> = Vec::new();
    for (_, t) in &transports {
        answers.push(
            calls()
                .into_iter()
                .map(|(n, a)| normalise(t.call(n, a)))
                .collect(),
        );
    }
    for (k, (name, args)) in calls().iter().enumerate() {
        for t in 1..transports.len() {
            assert_eq!(
                answers[t][k], answers[0][k],
                "call {k} {name} {args}: {} differs from in-process",
                transports[t].0
            );
        }
    }
    // What the contract promises, on the in-process answers.
    let a = &answers[0];
    let ok = |k: usize| {
        a[k].clone()
            .unwrap_or_else(|e| panic!("call {k} failed: {e:?}"))
    };
    assert!(ok(0)["pairs"].as_u64().unwrap_or(0) > 3);
    assert_eq!(ok(2).as_array().map(Vec::len), Some(3));
    assert_eq!(ok(3)[0]["id"], json!(4));
    let page = ok(4);
    assert!(page["rows"].as_array().is_some_and(|r| r.len() <= 2));
    assert_eq!(
        a[6],
        Err(Refused("invalid".into())),
        "a part without its split"
    );
    assert_eq!(a[7], Err(Refused("invalid".into())), "an unknown order");
    assert_eq!(a[10], Err(Refused("not_found".into())));
    assert!(ok(12).as_array().is_some_and(|e| !e.is_empty()), "evidence");
    assert!(a[13].is_err());
    assert_eq!(ok(14)["new_value"], json!(1));
    assert_eq!(ok(15), Value::Null, "setting the same value writes nothing");
    assert_eq!(
        a[17],
        Err(Refused("invalid".into())),
        "7 is not a label value"
    );
    let edema = |v: &Value| {
        v.as_array()
            .and_then(|l| l.iter().find(|c| c["class"] == "Edema").cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(edema(&ok(18))["value"], json!(-1));
    assert_eq!(edema(&ok(18))["source"], json!("human"));
    assert_eq!(ok(19)["kind"], json!("undo"));
    assert_eq!(edema(&ok(20))["value"], json!(1));
    assert_eq!(ok(21)["kind"], json!("redo"));
    assert_eq!(ok(22), Value::Null, "another annotator has nothing to undo");
    assert_eq!(ok(25)["status"], json!("accepted"));
    assert_eq!(a[26], Err(Refused("invalid".into())));
    assert_eq!(ok(27)["rows"][0]["id"], json!(2));
    let k = |name: &str, nth: usize| {
        calls()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.0 == name)
            .nth(nth)
            .map(|(k, _)| k)
            .expect("call")
    };
    assert_eq!(ok(k("run", 0))["status"], json!("done"));
    // No text or fusion run pre-labelled the pair: no model evidence.
    assert_eq!(ok(k("model_evidence", 0)), json!([]));
    assert_eq!(ok(k("labeler_status", 0))["last_run"], Value::Null);
    assert_eq!(a[k("labeler_status", 1)], Err(Refused("not_found".into())));
    assert_eq!(ok(k("run_epochs", 0)).as_array().map(Vec::len), Some(2));
    let predicted = ok(k("pair_prediction", 0));
    assert_eq!(predicted["kind"], json!("multi-label"));
    let classes = predicted["classes"].as_array().expect("classes");
    assert!(!classes.is_empty());
    assert!(classes.iter().all(|c| c["threshold"].is_number()));
    assert_eq!(a[k("pair_prediction", 1)], Err(Refused("not_found".into())));
    let eval = ok(k("evaluate", 0));
    assert_eq!(
        (eval["part"].clone(), eval["kind"].clone()),
        (json!("test"), json!("multi-label"))
    );
    assert_eq!(ok(k("evaluate", 1))["part"], json!("val"));
    for m in ok(k("misclassified", 0)).as_array().expect("samples") {
        assert_eq!(
            (m["truth"].clone(), m["predicted"].clone()),
            (json!("1"), json!("0"))
        );
    }
    assert_eq!(
        a[k("misclassified", 1)],
        Err(Refused("invalid".into())),
        "1 or 0 only"
    );
    assert_eq!(
        a[k("misclassified", 2)],
        Err(Refused("invalid".into())),
        "a multi-label cell needs its class"
    );
    assert_eq!(a[k("run", 1)], Err(Refused("not_found".into())));
    assert_eq!(
        ok(k("leakage", 0))["patients"],
        json!([]),
        "a patient split shares no patient"
    );
    assert_eq!(a[k("leakage", 1)], Err(Refused("not_found".into())));
    let rows = ok(k("browse", 5))["rows"]
        .as_array()
        .cloned()
        .expect("rows");
    assert_eq!(rows.len(), 3, "the least confident first: {rows:?}");
    let effusion = ok(k("browse", 1));
    assert_eq!(effusion["next"], json!(null), "one page holds them all");
    assert_eq!(
        ok(k("browse_count", 1)),
        json!(effusion["rows"].as_array().map(Vec::len)),
        "the count is the rows the grid pages through"
    );
    assert_eq!(a[k("browse_count", 2)], Err(Refused("invalid".into())));
    assert_eq!(
        a[k("start_prelabel", 0)],
        Err(Refused("invalid".into())),
        "zero-shot needs a model"
    );
    assert!(a[k("add_model", 0)].is_err(), "no model there");
    assert_eq!(a[k("make_split", 0)], Err(Refused("invalid".into())));
    let made = ok(k("make_split", 1));
    let parts: Vec<&str> = made["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .filter_map(|p| p["part"].as_str())
        .collect();
    assert_eq!(
        (made["name"].clone(), parts),
        (json!("ui"), vec!["train", "test"])
    );
    assert_eq!(
        ok(k("me", 0)),
        Value::Null,
        "no user accounts: nobody is signed in"
    );
    // Label issues: stored, listed, paged; the grid orders by them (likeliest wrong first)
    // and shows only the flagged pairs under their filter.
    assert_eq!(
        ok(k("label_issue_sets", 0)).as_array().map(Vec::len),
        Some(1)
    );
    let issues = ok(k("label_issues", 0));
    assert_eq!(issues["folds"].as_array().map(Vec::len), Some(2));
    assert!(issues["issues"].as_array().is_some_and(|i| i.len() <= 2));
    assert_eq!(issues["stale"], json!(true), "labels were set since");
    assert_eq!(a[k("label_issues", 1)], Err(Refused("not_found".into())));
    let scores: Vec<f64> = ok(k("browse", 6))["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["score"].as_f64())
        .collect();
    assert_eq!(scores.len(), 3);
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    assert_eq!(
        ok(k("browse", 7))["rows"].as_array().map(Vec::len),
        issues["flagged_pairs"].as_u64().map(|n| n as usize)
    );
    assert_eq!(
        a[k("start_label_issues", 0)],
        Err(Refused("invalid".into()))
    );
    // A disagreement decided: the value becomes the label, the queue no longer lists it,
    // and the reviewer is no annotator of the agreement.
    let on_pair_3 = |r: &Value| {
        r["disagreements"]
            .as_array()
            .expect("disagreements")
            .iter()
            .filter(|d| d["pair_id"] == json!(3))
            .count()
    };
    let before = ok(k("agreement", 1));
    assert_eq!(on_pair_3(&before), 1);
    let decided = ok(k("resolve_disagreement", 0));
    assert_eq!(decided["label_events"], json!(1));
    assert_eq!(decided["disagreement"]["resolution"]["value"], json!("1"));
    assert_eq!(
        decided["disagreement"]["resolution"]["reviewer"],
        json!("dr-c")
    );
    let after = ok(k("agreement", 2));
    assert_eq!(on_pair_3(&after), 0);
    assert_eq!(
        after["open_disagreements"].as_u64(),
        before["open_disagreements"].as_u64().map(|n| n - 1)
    );
    assert!(
        !after["annotators"]
            .as_array()
            .expect("annotators")
            .contains(&json!("dr-c"))
    );
    assert_eq!(
        a[k("resolve_disagreement", 1)],
        Err(Refused("not_found".into()))
    );
    assert_eq!(
        a[k("resolve_disagreement", 2)],
        Err(Refused("invalid".into()))
    );
}

#[test]
fn the_tauri_commands_are_the_route_tables_json_and_stream_rows() {
    let mut routes: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.kind != Kind::File)
        .map(|r| r.name)
        .collect();
    let mut commands = COMMANDS.to_vec();
    routes.sort_unstable();
    commands.sort_unstable();
    assert_eq!(commands, routes);

    // And each is registered with the invoke handler: an unknown command is refused as
    // such, a known one is not (it may still refuse its arguments).
    let tmp = tempfile::tempdir().expect("tempdir");
    let ipc = Ipc::new(tmp.path().join("lib"));
    let unknown = ipc
        .invoke("no_such_command", json!({}))
        .expect_err("unknown");
    assert!(unknown.to_string().contains("not found"), "{unknown}");
    for name in COMMANDS.iter().filter(|n| **n != "job_events") {
        if let Err(e) = ipc.invoke(name, json!({"args": {"id": 1}})) {
            assert!(
                !e.to_string().contains("not found") || e["kind"].is_string(),
                "{name}: {e}"
            );
        }
    }
}

/// Every row of the table is served over HTTP: no request on a row's method and path
/// reaches the API's fallback (`no such API route`), whatever the call then answers.
#[test]
fn every_route_is_served_over_http() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib = demo_library(tmp.path());
    let app = pairlab_server::router(pairlab_server::AppState::new(&lib));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for r in ROUTES.iter().filter(|r| r.kind != Kind::Stream) {
        let path = format!("/api{}", r.path.replace("{id}", "1"));
        let req = if r.method == "GET" {
            Request::get(&path).body(Body::empty())
        } else {
            Request::post(&path)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
        };
        let (status, body) = rt.block_on(async {
            let res = app
                .clone()
                .oneshot(req.expect("request"))
                .await
                .expect("response");
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 64 << 20)
                .await
                .expect("body");
            (status, body)
        });
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("no such API route"),
            "{} {path}: {status} {text}",
            r.method
        );
    }
    // And a path no row has reaches it.
    let res = rt.block_on(
        app.oneshot(
            Request::get("/api/nope")
                .body(Body::empty())
                .expect("request"),
        ),
    );
    assert_eq!(res.expect("response").status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_protocol_serves_images_and_thumbnails_by_pair_id_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib = demo_library(tmp.path());
    for file in ROUTES.iter().filter(|r| r.kind == Kind::File) {
        let path = file.path.replace("{id}", "1");
        let res = protocol_response(&lib, &path, None);
        assert_eq!(res.status(), StatusCode::OK.as_u16(), "{path}");
        let ct = res.headers()["content-type"]
            .to_str()
            .expect("type")
            .to_owned();
        assert!(ct.starts_with("image/"), "{path}: {ct}");
        assert!(!res.body().is_empty());
        // The web view's copy is current: 304 with the same tag and no body.
        let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
        let again = protocol_response(&lib, &path, Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED.as_u16(), "{path}");
        assert!(again.body().is_empty());
        assert_eq!(again.headers()["etag"], etag.as_str());
        let other = protocol_response(&lib, &path, Some("\"image-0000\""));
        assert_eq!(other.status(), StatusCode::OK.as_u16(), "{path}");
    }
    for bad in [
        "/pairs/999999/image",
        "/pairs/0/image",
        "/pairs/-1/thumb",
        "/pairs/01/image",
        "/pairs/1/../../pairlab.db",
        "/pairs/..%2F..%2Fetc%2Fpasswd/image",
        "/etc/passwd",
        "/pairs/1/image/extra",
    ] {
        let res = protocol_response(&lib, bad, None);
        assert_eq!(res.status(), StatusCode::NOT_FOUND.as_u16(), "{bad}");
        let body: Value = serde_json::from_slice(res.body()).expect("json error");
        assert_eq!(body["kind"], "not_found", "{bad}");
    }
}
