//! The contract suite's three transports: core's API in process, the HTTP router and the
//! Tauri commands through the real invoke handler, each answering a call as JSON or the
//! kind of error it was refused with.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::Request;
use pairlab_app::{Shell, setup};
use pairlab_core::Result as CoreResult;
use pairlab_core::api::routes::ROUTES;
use serde_json::{Value, json};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;
use tower::ServiceExt;

/// The kind of error a call was refused with (`invalid`, `not_found`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Refused(pub String);

/// An answer: `Ok(json)` or the kind of error.
pub type Answer = Result<Value, Refused>;

pub trait Transport {
    fn call(&self, name: &str, args: Value) -> Answer;
}

pub fn answer<T: serde::Serialize>(r: CoreResult<T>) -> Answer {
    match r {
        // Through JSON text, as on the wire (an f32 prints as its shortest form).
        Ok(v) => Ok(serde_json::from_str(&serde_json::to_string(&v).expect("json")).expect("json")),
        Err(e) => Err(Refused(e.kind().to_owned())),
    }
}

/// Core's API, called directly through the endpoints' declarations (the same typed call
/// the other transports end in).
pub struct InProcess(pub pairlab_core::jobs::Jobs);

impl Transport for InProcess {
    fn call(&self, name: &str, args: Value) -> Answer {
        let cx = pairlab_core::api::Call::new(&self.0, None);
        answer(pairlab_core::api::endpoints::call_by_name(&cx, name, args))
    }
}

/// The HTTP router, one request per call, built from the route table like the UI's
/// browser transport does.
pub struct Http {
    pub app: axum::Router,
    pub rt: tokio::runtime::Runtime,
}

fn query(args: &serde_json::Map<String, Value>) -> String {
    let pairs: Vec<String> = args
        .iter()
        .filter(|(k, v)| *k != "id" && !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={}", s.replace(' ', "%20")),
            other => format!("{k}={other}"),
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

impl Transport for Http {
    fn call(&self, name: &str, args: Value) -> Answer {
        let route = ROUTES.iter().find(|r| r.name == name).expect("route");
        let map = args.as_object().cloned().unwrap_or_default();
        let mut path = format!("/api{}", route.path);
        if let Some(id) = map.get("id") {
            path = path.replace("{id}", &id.to_string());
        }
        let req = if route.method == "GET" {
            Request::get(format!("{path}{}", query(&map))).body(Body::empty())
        } else {
            let mut body = map.clone();
            body.remove("id");
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(Value::Object(body).to_string()))
        };
        let req = req.expect("request");
        let (status, bytes) = self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("response");
            let status = res.status();
            (
                status,
                axum::body::to_bytes(res.into_body(), 64 << 20)
                    .await
                    .expect("body"),
            )
        });
        let v: Value = serde_json::from_slice(&bytes).expect("json body");
        if status.is_success() {
            Ok(v)
        } else {
            Err(Refused(v["kind"].as_str().unwrap_or("?").to_owned()))
        }
    }
}

/// The Tauri commands through the real invoke handler on tauri's mock runtime.
pub struct Ipc {
    _app: tauri::App<MockRuntime>,
    webview: tauri::WebviewWindow<MockRuntime>,
}

impl Ipc {
    pub fn new(library: PathBuf) -> Ipc {
        let app = setup(mock_builder(), Shell::new(library))
            .build(mock_context(noop_assets()))
            .expect("app");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("webview");
        Ipc { _app: app, webview }
    }

    pub fn invoke(&self, name: &str, body: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: name.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: tauri::ipc::InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.webview, request)
            .map(|b| b.deserialize::<Value>().expect("json answer"))
    }
}

impl Transport for Ipc {
    fn call(&self, name: &str, args: Value) -> Answer {
        self.invoke(name, json!({ "args": args })).map_err(|e| {
            Refused(
                e["kind"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or(e.to_string()),
            )
        })
    }
}

/// Drops what differs between two runs of the same calls (clock times).
pub fn normalise(v: Answer) -> Answer {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    !matches!(
                        k.as_str(),
                        "time" | "created_at" | "indexed_at" | "decided_at"
                    )
                });
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    v.map(|mut v| {
        strip(&mut v);
        v
    })
}
