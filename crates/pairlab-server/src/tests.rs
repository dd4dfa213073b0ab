//! The routes driven through `router` with `oneshot` (no socket), on libraries built from
//! core's demo corpus.

use std::path::PathBuf;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::{AppState, router};

/// A library holding core's demo corpus (with the report labeler's labels).
pub struct Fixture {
    pub _tmp: TempDir,
    pub lib: PathBuf,
}

pub fn demo_library(patients: u32) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib = pairlab_core::demo::prelabelled_library(tmp.path(), patients, 7).expect("demo");
    Fixture { _tmp: tmp, lib }
}

pub async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (res.status(), res.headers().clone());
    let body = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .expect("body");
    (status, headers, body)
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub fn post(uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn json_of(status: StatusCode, body: &Bytes) -> (StatusCode, Value) {
    let v = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    (status, v)
}

pub async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(app, get(uri)).await;
    json_of(status, &body)
}

pub async fn post_json(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, bytes) = call(app, post(uri, &body)).await;
    json_of(status, &bytes)
}

#[tokio::test]
async fn stats_route_reads_an_empty_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(dir.path()));
    let (status, v) = get_json(&app, "/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["corpora"], 0);
    assert_eq!(v["pairs"], 0);
    let (status, v) = get_json(&app, "/api/health").await;
    assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    // Without user accounts nobody is signed in (and everything is allowed).
    let (status, v) = get_json(&app, "/api/me").await;
    assert_eq!((status, v), (StatusCode::OK, Value::Null));
    let (status, v) = get_json(&app, "/api/no-such-route").await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn browse_pairs_by_page_and_detail() {
    let fx = demo_library(4);
    let app = router(AppState::new(&fx.lib));
    let (status, stats) = get_json(&app, "/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    let total = stats["pairs"].as_u64().expect("pair count");
    assert!(total >= 4, "{stats}");

    // Keyset pagination: pages of 3 until an empty page, ids strictly increasing.
    let (mut after, mut seen) = (0, Vec::new());
    loop {
        let (status, page) = get_json(&app, &format!("/api/pairs?after={after}&limit=3")).await;
        assert_eq!(status, StatusCode::OK);
        let page = page.as_array().expect("array").clone();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().expect("id");
        seen.extend(page.iter().map(|p| p["id"].as_i64().expect("id")));
    }
    assert_eq!(seen.len() as u64, total);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    let (status, detail) = get_json(&app, &format!("/api/pairs/{}", seen[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["id"], seen[0]);
    assert!(detail["image"]["width"].as_u64().expect("width") > 0);
    assert!(detail["report"]["text"].is_string(), "{detail}");

    let (status, v) = get_json(&app, "/api/pairs/999999").await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, v) = get_json(&app, "/api/pairs?limit=abc").await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );

    for uri in [
        "/api/schemas",
        "/api/splits",
        "/api/runs",
        "/api/models",
        "/api/errors",
    ] {
        let (status, v) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        assert!(v.is_array(), "{uri}: {v}");
    }
    let (status, hits) = get_json(&app, "/api/search?q=effusion&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert!(hits.as_array().expect("hits").len() <= 5);
}

#[tokio::test]
async fn browse_route_filters_and_pages() {
    let fx = demo_library(4);
    let app = router(AppState::new(&fx.lib));
    // The demo's reports are pre-labelled by the rules: filter on one class's positives.
    let body = |after: Option<String>| {
        serde_json::json!({"filter": {"class": "Cardiomegaly", "value": "1", "source": "report-rules"},
                           "after": after, "limit": 2})
    };
    let (mut after, mut seen) = (None, Vec::new());
    loop {
        let (status, page) = post_json(&app, "/api/browse", body(after.clone())).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let rows = page["rows"].as_array().expect("rows").clone();
        assert!(rows.len() <= 2);
        seen.extend(rows.iter().map(|r| r["id"].as_i64().expect("id")));
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert!(!seen.is_empty());
    for id in &seen {
        let (_, labels) = get_json(&app, &format!("/api/pairs/{id}/labels")).await;
        let positive = labels
            .as_array()
            .expect("labels")
            .iter()
            .any(|l| l["class"] == "Cardiomegaly" && l["value"] == 1);
        assert!(positive, "pair {id}: {labels}");
    }
    let (status, v) = post_json(
        &app,
        "/api/browse",
        serde_json::json!({"filter": {"value": "1"}}),
    )
    .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    let (status, _) = post_json(
        &app,
        "/api/browse",
        serde_json::json!({"filter": {"colour": "red"}}),
    )
    .await;
    assert!(status.is_client_error());
}

#[tokio::test]
async fn set_read_and_undo_a_label() {
    let fx = demo_library(3);
    let app = router(AppState::new(&fx.lib));
    let human = |labels: &Value| {
        labels
            .as_array()
            .expect("labels")
            .iter()
            .find(|l| l["class"] == "Cardiomegaly" && l["annotator"] == "ann")
            .map(|l| l["value"].clone())
    };
    let body = json!({"pair": 1, "schema": "chexpert", "class": "Cardiomegaly", "value": 1, "annotator": "ann"});
    let (status, event) = post_json(&app, "/api/labels", body).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["new_value"], 1);
    let (status, labels) = get_json(&app, "/api/pairs/1/labels?schema=chexpert").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(human(&labels), Some(json!(1)), "{labels}");

    let (status, event) = post_json(&app, "/api/undo", json!({"annotator": "ann"})).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["kind"], "undo");
    let (_, labels) = get_json(&app, "/api/pairs/1/labels").await;
    assert_eq!(human(&labels), None, "{labels}");
    let (_, history) = get_json(&app, "/api/pairs/1/history").await;
    let kinds: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["source"] == "human")
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["set", "undo"], "{history}");
    let (status, event) = post_json(&app, "/api/redo", json!({"annotator": "ann"})).await;
    assert_eq!(
        (status, event["kind"].as_str()),
        (StatusCode::OK, Some("redo"))
    );

    let review = json!({"pair": 1, "status": "accepted", "annotator": "ann"});
    let (status, v) = post_json(&app, "/api/review", review).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, v) = get_json(&app, "/api/pairs/1/review").await;
    assert_eq!(v["status"], "accepted");

    // Bad input is a JSON 4xx, not a plain-text rejection.
    let bad = json!({"pair": 1, "class": "No Such Class", "value": 1, "annotator": "ann"});
    let (status, v) = post_json(&app, "/api/labels", bad).await;
    assert!(status.is_client_error(), "{status}: {v}");
    assert!(v["kind"].is_string());
    let (status, v) = post_json(&app, "/api/labels", json!({"pair": 1})).await;
    assert_eq!(
        (status.is_client_error(), v["kind"].as_str()),
        (true, Some("invalid"))
    );
}

#[tokio::test]
async fn images_and_thumbs_by_pair_id() {
    let fx = demo_library(4);
    let app = router(AppState::new(&fx.lib));
    let (_, pairs) = get_json(&app, "/api/pairs?limit=1000").await;
    let pairs = pairs.as_array().expect("pairs").clone();
    let png = pairs
        .iter()
        .find(|p| p["image"].as_str().is_some_and(|i| i.ends_with(".png")))
        .expect("a PNG pair");
    let dcm = pairs
        .iter()
        .find(|p| p["image"].as_str().is_some_and(|i| i.ends_with(".dcm")))
        .expect("a DICOM pair");
    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    for (pair, route) in [(png, "image"), (dcm, "image")] {
        let (status, headers, body) =
            call(&app, get(&format!("/api/pairs/{}/{route}", pair["id"]))).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(headers[CONTENT_TYPE], "image/png");
        assert!(body.starts_with(PNG_MAGIC));
    }
    let (status, headers, body) = call(&app, get(&format!("/api/pairs/{}/thumb", dcm["id"]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("image/")
    );
    assert!(!body.is_empty());
    // Revalidation: the entity tag answers 304 without a body; another tag gets the file.
    let etag = headers[ETAG].to_str().expect("etag").to_owned();
    let uri = format!("/api/pairs/{}/thumb", dcm["id"]);
    let with_tag = |tag: &str| {
        Request::get(&uri)
            .header(IF_NONE_MATCH, tag)
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, body) = call(&app, with_tag(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[ETAG], etag.as_str());
    let (status, _, body) = call(&app, with_tag("\"thumb-0000\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());

    let (status, _, _) = call(&app, get("/api/pairs/999999/image")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&app, get("/api/pairs/999999/thumb")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only ids: anything path-like is refused before the database is asked.
    for uri in [
        "/api/pairs/..%2F..%2Fetc%2Fpasswd/image",
        "/api/pairs/%2Fetc%2Fpasswd/image",
        "/api/pairs/1%2F..%2Fpairlab.db/thumb",
        "/api/pairs/-1/image",
        "/api/pairs/1.png/image",
    ] {
        let (status, _, body) = call(&app, get(uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["kind"], "invalid");
    }
    let (status, _, _) = call(&app, get("/api/pairs/../../etc/passwd")).await;
    assert!(status.is_client_error());

    // A missing file is a 404, not a 500.
    let detail: Value = get_json(&app, &format!("/api/pairs/{}", png["id"])).await.1;
    let abs = detail["image"]["abs_path"].as_str().expect("abs path");
    std::fs::remove_file(abs).expect("remove");
    let (status, _, _) = call(&app, get(&format!("/api/pairs/{}/image", png["id"]))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_guards_every_route() {
    let fx = demo_library(2);
    let app = router(AppState::new(&fx.lib).with_token(Some("s3cret".into())));
    let (status, headers, body) = call(&app, get("/api/stats")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["kind"], "unauthorized");

    let with_header = |uri: &str, token: &str| {
        Request::get(uri)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let (status, _, _) = call(&app, with_header("/api/stats", "s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&app, with_header("/api/stats", "wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, get("/api/stats?token=wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, get("/api/health")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, post("/api/undo", &json!({"annotator": "a"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // ?token= (for <img src>) works and leaves a cookie that works too.
    let (status, headers, _) = call(&app, get("/api/pairs/1/thumb?token=s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[SET_COOKIE].to_str().expect("cookie").to_owned();
    assert!(cookie.starts_with("pairlab_token=s3cret;") && cookie.contains("HttpOnly"));
    let by_cookie = Request::get("/api/stats")
        .header("cookie", "other=1; pairlab_token=s3cret")
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = call(&app, by_cookie).await;
    assert_eq!(status, StatusCode::OK);

    let token = crate::random_token();
    assert_eq!(token.len(), 32);
    assert_ne!(token, crate::random_token());
}

#[tokio::test]
async fn serves_the_ui_folder_with_an_index_fallback() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ui = tmp.path().join("dist");
    std::fs::create_dir_all(ui.join("assets")).expect("mkdir");
    std::fs::write(ui.join("index.html"), "<!doctype html>index").expect("write");
    std::fs::write(ui.join("assets/app.js"), "console.log(1)").expect("write");
    std::fs::write(tmp.path().join("secret.txt"), "secret").expect("write");
    let app = router(AppState::new(tmp.path().join("lib")).with_ui(Some(ui)));

    let (status, headers, body) = call(&app, get("/")).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"<!doctype html>index"[..])
    );
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let (status, headers, _) = call(&app, get("/assets/app.js")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    let (status, _, body) = call(&app, get("/pairs/12")).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"<!doctype html>index"[..])
    );
    for uri in [
        "/assets/missing.js",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/../../secret.txt",
    ] {
        let (status, _, body) = call(&app, get(uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(!body.starts_with(b"secret"), "{uri}");
    }
    let (status, v) = get_json(&app, "/api/nothing").await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn without_a_token_only_loopback_host_names_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(dir.path()));
    let with_host = |host: &str| {
        Request::get("/api/health")
            .header(axum::http::header::HOST, host)
            .body(Body::empty())
            .expect("request")
    };
    for host in ["127.0.0.1:7878", "localhost:7878", "[::1]:7878"] {
        let (status, _, _) = call(&app, with_host(host)).await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    // A page on another site whose name now points at 127.0.0.1 (DNS rebinding).
    let (status, _, body) = call(&app, with_host("rebind.example:7878")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("forbidden"));
}
