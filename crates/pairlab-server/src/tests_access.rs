//! Who may change what, and how writers share the library: concurrent writers, requests
//! from other sites, required fields, bounded searches and user accounts with roles.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, SET_COOKIE};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::tests::{call, demo_library, get, get_json, json_of, post, post_json};
use crate::{AppState, router};

/// 2, 4 and 8 annotators labelling and undoing their own pairs at once through the
/// routes (each request on its own connection, as `pairlab serve` runs them): every
/// request succeeds; the write latencies are printed (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_writers_all_succeed() {
    let fx = demo_library(4);
    let app = router(AppState::new(&fx.lib));
    for writers in [2i64, 4, 8] {
        let tasks: Vec<_> = (1..=writers)
            .map(|pair| {
                let app = app.clone();
                tokio::spawn(async move {
                    let annotator = format!("ann{pair}-{writers}");
                    let mut out = Vec::new();
                    for i in 0..25 {
                        let started = std::time::Instant::now();
                        let (status, body) = if i % 5 == 4 {
                            post_json(&app, "/api/undo", json!({"annotator": annotator})).await
                        } else {
                            let value = [json!(1), json!(0), json!(-1), json!(null)][i % 4].clone();
                            post_json(
                                &app,
                                "/api/labels",
                                json!({"pair": pair, "class": "Edema", "value": value,
                                       "annotator": annotator}),
                            )
                            .await
                        };
                        out.push((status, body, started.elapsed()));
                    }
                    out
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            for (status, body, took) in t.await.expect("writer") {
                assert_eq!(status, StatusCode::OK, "{writers} writers: {body}");
                latencies.push(took);
            }
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{writers} writers, {} writes: p50 {:?}, p95 {:?}, max {:?}",
            latencies.len(),
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
}

/// Every POST route refuses what another site's page can send without a preflight (no
/// JSON content type, as a form or a bodiless `fetch` sends) and anything a browser marks
/// as coming from another site; this server's own page gets through.
#[tokio::test]
async fn state_changing_routes_refuse_other_sites() {
    let fx = demo_library(2);
    let app = router(AppState::new(&fx.lib));
    let posts: Vec<_> = pairlab_core::api::routes::ROUTES
        .iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(posts.iter().any(|r| r.name == "cancel_job"));
    for route in posts {
        let uri = format!("/api{}", route.path.replace("{id}", "1"));
        let build = |ct: Option<&str>, extra: &[(&str, &str)]| {
            let mut req = Request::post(&uri).header("host", "127.0.0.1:7878");
            if let Some(ct) = ct {
                req = req.header(CONTENT_TYPE, ct);
            }
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            req.body(Body::from("{}")).expect("request")
        };
        let refused = [
            build(None, &[]),
            build(Some("text/plain"), &[]),
            build(Some("application/x-www-form-urlencoded"), &[]),
            build(
                Some("application/json"),
                &[("origin", "http://evil.example")],
            ),
            build(
                Some("application/json"),
                &[("origin", "http://127.0.0.1:7878.evil.example")],
            ),
            build(
                Some("application/json"),
                &[("sec-fetch-site", "cross-site")],
            ),
            build(Some("application/json"), &[("sec-fetch-site", "same-site")]),
        ];
        for (i, req) in refused.into_iter().enumerate() {
            let (status, _, body) = call(&app, req).await;
            let (status, v) = json_of(status, &body);
            assert_eq!(
                (status, v["kind"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{} case {i}: {v}",
                route.name
            );
        }
        let own = build(
            Some("application/json; charset=utf-8"),
            &[
                ("origin", "http://127.0.0.1:7878"),
                ("sec-fetch-site", "same-origin"),
            ],
        );
        let (status, _, body) = call(&app, own).await;
        assert_ne!(
            status,
            StatusCode::FORBIDDEN,
            "{}: {}",
            route.name,
            String::from_utf8_lossy(&body)
        );
    }
    // Reads stay open to plain GETs (an <img> of the UI, a curl).
    let (status, _) = get_json(&app, "/api/stats").await;
    assert_eq!(status, StatusCode::OK);
}

/// `set_label` without a `value` is refused (it used to blank the label and write an
/// event); `null` still blanks it.
#[tokio::test]
async fn set_label_needs_its_value() {
    let fx = demo_library(2);
    let app = router(AppState::new(&fx.lib));
    let (status, v) = post_json(
        &app,
        "/api/labels",
        json!({"pair": 1, "class": "Edema", "annotator": "ann"}),
    )
    .await;
    // Refused as the body's other shape errors are (422, kind `invalid`).
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["kind"], "invalid", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing field `value`")),
        "{v}"
    );
    let (_, history) = get_json(&app, "/api/pairs/1/history").await;
    let human = history
        .as_array()
        .map(|a| a.iter().filter(|e| e["source"] == "human").count());
    assert_eq!(human, Some(0), "no human event: {history}");
    let (status, _) = post_json(
        &app,
        "/api/labels",
        json!({"pair": 1, "class": "Edema", "value": null, "annotator": "ann"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // An empty or a megabyte-long annotator is refused, for undo too.
    for annotator in [String::new(), "x".repeat(1 << 20)] {
        let (status, v) = post_json(
            &app,
            "/api/labels",
            json!({"pair": 1, "class": "Edema", "value": 1, "annotator": annotator}),
        )
        .await;
        assert_eq!(
            (status, v["kind"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid"))
        );
        let (status, _) = post_json(&app, "/api/undo", json!({"annotator": annotator})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

/// A search with more words than a search may have is a clear 400, over the search route
/// and the browse grid's text filter alike.
#[tokio::test]
async fn oversized_searches_are_refused() {
    let fx = demo_library(2);
    let app = router(AppState::new(&fx.lib));
    let words = vec!["effusion"; 100].join("+");
    let (status, v) = get_json(&app, &format!("/api/search?q={words}")).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("100 words")),
        "{v}"
    );
    let text = vec!["effusion"; 100].join(" ");
    let (status, v) = post_json(
        &app,
        "/api/browse",
        json!({"filter": {"text": text}, "limit": 5}),
    )
    .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid")),
        "{v}"
    );
    let (status, _) = get_json(&app, "/api/search?q=effusion").await;
    assert_eq!(status, StatusCode::OK);
}

/// A server a team shares: while accounts are active every request needs a user's token,
/// each call is checked against the user's role, the annotator of a label is the token's
/// user whatever the body says, and a revoked token is refused.
#[tokio::test]
async fn user_accounts_gate_calls_by_role_and_name_the_annotator() {
    let fx = demo_library(2);
    let (ann, rev, adm) = {
        let lib = pairlab_core::Library::open(&fx.lib).expect("library");
        use pairlab_core::users::Role;
        (
            lib.add_user("ann", Role::Annotator).expect("ann"),
            lib.add_user("rev", Role::Reviewer).expect("rev"),
            lib.add_user("adm", Role::Admin).expect("adm"),
        )
    };
    let app = router(AppState::new(&fx.lib));
    let as_user = |token: &str, mut req: Request<Body>| {
        req.headers_mut().insert(
            AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        req
    };
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let (status, _, body) = call(&app, req).await;
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (status, v)
        }
    };
    // No token, or a wrong one: 401, even for reads on loopback; the UI's own files (no
    // library data) load, so that the app can ask for a token.
    let (status, _) = send(get("/api/stats")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(get("/api/pairs/1/image")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, get("/")).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(as_user("nope", get("/api/stats"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Reads for everyone.
    let (status, _) = send(as_user(&ann, get("/api/stats"))).await;
    assert_eq!(status, StatusCode::OK);
    // Each user learns who they are (the UI shows what their role allows).
    for (token, name, role) in [
        (&ann, "ann", "annotator"),
        (&rev, "rev", "reviewer"),
        (&adm, "adm", "admin"),
    ] {
        let (status, v) = send(as_user(token, get("/api/me"))).await;
        assert_eq!(
            (status, v),
            (StatusCode::OK, json!({"name": name, "role": role}))
        );
    }
    // An annotator labels; the event names the token's user, not the body's.
    let label = json!({"pair": 1, "class": "Edema", "value": 1, "annotator": "mallory"});
    let (status, v) = send(as_user(&ann, post("/api/labels", &label))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["annotator"], "ann", "{v}");
    let (status, v) = send(as_user(&ann, post("/api/undo", &json!({"annotator": "x"})))).await;
    assert_eq!(
        (status, v["annotator"].as_str()),
        (StatusCode::OK, Some("ann")),
        "{v}"
    );
    // Flagging is an annotator's; accepting needs a reviewer.
    let review = |status: &str| json!({"pair": 1, "status": status, "annotator": "x"});
    let (status, _) = send(as_user(&ann, post("/api/review", &review("flagged")))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = send(as_user(&ann, post("/api/review", &review("accepted")))).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{v}"
    );
    let (status, v) = send(as_user(&rev, post("/api/review", &review("accepted")))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Deciding a disagreement is a reviewer's, and names the token's user.
    // (Two annotators disagree on pair 2: ann and adm.)
    for (value, token) in [(1, &ann), (0, &adm)] {
        let label = json!({"pair": 2, "class": "Edema", "value": value, "annotator": "z"});
        let (status, v) = send(as_user(token, post("/api/labels", &label))).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let decide = json!({"pair": 2, "class": "Edema", "value": "1", "annotator": "mallory"});
    let (status, v) = send(as_user(&ann, post("/api/agreement/resolve", &decide))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = send(as_user(&rev, post("/api/agreement/resolve", &decide))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["disagreement"]["resolution"]["reviewer"], "rev", "{v}");
    // Indexing, training and cancelling are an admin's.
    let corpus = json!({"root": fx.lib.to_string_lossy()});
    for token in [&ann, &rev] {
        let (status, v) = send(as_user(token, post("/api/corpora", &corpus))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        let (status, _) = send(as_user(token, post("/api/jobs/1/cancel", &json!({})))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = send(as_user(&adm, post("/api/jobs/999/cancel", &json!({})))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an admin gets through to the call"
    );
    // A revoked token is refused from the next request on.
    pairlab_core::Library::open(&fx.lib)
        .expect("library")
        .revoke_user("ann")
        .expect("revoke");
    let (status, _) = send(as_user(&ann, get("/api/stats"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // ?token= sets the cookie for the UI's later requests.
    let (status, headers, _) = call(&app, get(&format!("/api/stats?token={rev}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(SET_COOKIE).is_some());
}
